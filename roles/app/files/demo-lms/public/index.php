<?php
// Front controller: every request that is not a static file under public/ comes here.
declare(strict_types=1);

ini_set('display_errors', '0');

try {
    $app = require __DIR__ . '/../bootstrap/app.php';
} catch (Throwable $e) {
    // Before configuration exists nothing can be logged safely: a bare 500, never the message.
    http_response_code(500);
    header('Content-Type: application/json');
    echo "{\"message\":\"Server Error\"}\n";
    return;
}
$app->handle($_SERVER['REQUEST_METHOD'] ?? 'GET', $_SERVER['REQUEST_URI'] ?? '/');
