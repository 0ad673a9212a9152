<?php
declare(strict_types=1);

namespace Lms;

use PDO;
use Redis;
use Throwable;

/**
 * The demo LMS: configuration, persistent connections, the HTTP routes and error handling.
 *
 * Connections are persistent (PDO::ATTR_PERSISTENT, Redis::pconnect): each PHP-FPM child keeps its
 * MariaDB and Redis connections across requests instead of opening two TCP connections (and two
 * logins) per request, which measured as the main cost of a small page on these machines.
 */
final class App
{
    private static ?self $instance = null;
    private ?PDO $pdo = null;
    private ?Redis $redis = null;

    private function __construct(public readonly string $base, public readonly array $config)
    {
    }

    public static function boot(string $base): self
    {
        if (self::$instance === null) {
            $cached = $base . '/bootstrap/cache/config.php';
            $config = is_file($cached) ? require $cached : Env::config(Env::parse($base . '/.env'));
            self::$instance = new self($base, $config);
        }
        return self::$instance;
    }

    /** The release this code runs from (the directory name under releases/). */
    public function release(): string
    {
        return basename((string) realpath($this->base));
    }

    public function storagePath(string $path = ''): string
    {
        return $this->base . '/storage' . ($path === '' ? '' : '/' . ltrim($path, '/'));
    }

    public function db(): PDO
    {
        if ($this->pdo === null) {
            $c = $this->config['database'];
            $dsn = sprintf('mysql:host=%s;port=%d;dbname=%s;charset=utf8mb4', $c['host'], $c['port'], $c['database']);
            $this->pdo = new PDO($dsn, $c['username'], $c['password'], [
                PDO::ATTR_PERSISTENT => (bool) $c['persistent'],
                PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
                PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
                PDO::ATTR_EMULATE_PREPARES => false,
                PDO::ATTR_TIMEOUT => 3,
            ]);
        }
        return $this->pdo;
    }

    public function redis(): Redis
    {
        if ($this->redis === null) {
            $c = $this->config['redis'];
            $redis = new Redis();
            $auth = $c['username'] !== '' ? [$c['username'], $c['password']] : ($c['password'] !== '' ? [$c['password']] : null);
            $context = $auth === null ? [] : ['auth' => $auth];
            if ($c['persistent']) {
                // One pooled connection per credentials: a changed password never reuses an old login.
                $id = 'lms-' . substr(hash('sha256', $c['host'] . $c['port'] . $c['username'] . $c['password']), 0, 16);
                $redis->pconnect($c['host'], $c['port'], 2.0, $id, 0, 2.0, $context);
            } else {
                $redis->connect($c['host'], $c['port'], 2.0, null, 0, 2.0, $context);
            }
            $this->redis = $redis;
        }
        return $this->redis;
    }

    /** Logs an error to storage/logs without any configuration value (never credentials). */
    public function report(Throwable $e): void
    {
        $line = sprintf("[%s] %s: %s in %s:%d\n", date('c'), get_class($e), self::redact($e->getMessage(), $this->config),
            $e->getFile(), $e->getLine());
        @file_put_contents($this->storagePath('logs/lms.log'), $line, FILE_APPEND | LOCK_EX);
    }

    /** A message with every configured secret replaced (drivers may echo a DSN or a password). */
    public static function redact(string $message, array $config): string
    {
        $secrets = array_filter([
            $config['database']['password'] ?? '', $config['redis']['password'] ?? '', $config['app']['key'] ?? '',
        ], static fn ($s) => is_string($s) && $s !== '');
        return str_replace($secrets, '********', $message);
    }

    // ------------------------------------------------------------------ HTTP
    public function handle(string $method, string $uri): void
    {
        $path = rawurldecode((string) parse_url($uri, PHP_URL_PATH));
        if (is_file($this->storagePath('framework/down')) && $path !== '/health') {
            $this->respond(503, ['message' => 'Service Unavailable'], ['Retry-After' => '60']);
            return;
        }
        try {
            if ($path === '/') {
                $this->home();
            } elseif ($path === '/health') {
                $this->health();
            } elseif (preg_match('#^/courses/(\d{1,9})$#', $path, $m)) {
                $this->course((int) $m[1]);
            } elseif ($path === '/jobs/dispatch' && in_array($method, ['GET', 'POST'], true)) {
                $this->dispatch((string) ($_POST['token'] ?? $_GET['token'] ?? ''), (string) ($_POST['type'] ?? $_GET['type'] ?? 'record-host'));
            } elseif (preg_match('#^/jobs/([A-Za-z0-9_-]{1,64})$#', $path, $m)) {
                $this->job($m[1]);
            } else {
                $this->respond(404, ['message' => 'Not Found']);
            }
        } catch (Throwable $e) {
            $this->report($e);
            $body = ['message' => 'Server Error'];
            if ($this->config['app']['debug']) {
                $body['exception'] = get_class($e);
                $body['detail'] = self::redact($e->getMessage(), $this->config);
            }
            $this->respond(500, $body);
        }
    }

    /** The benchmark page: one primary-key SELECT and one Redis GET, small HTML. */
    private function home(): void
    {
        $id = random_int(1, 5);
        $stmt = $this->db()->prepare('SELECT id, title FROM courses WHERE id = ?');
        $stmt->execute([$id]);
        $course = $stmt->fetch() ?: ['id' => 0, 'title' => '(no course: run artisan migrate)'];
        $banner = $this->redis()->get($this->config['redis']['prefix'] . 'banner');
        $name = htmlspecialchars($this->config['app']['name']);
        header('Content-Type: text/html; charset=utf-8');
        printf("<!doctype html>\n<html><head><title>%s</title></head><body>\n<h1>%s</h1>\n<p>Course %d: %s</p>\n<p>%s</p>\n"
            . "<p><small>release %s</small></p>\n</body></html>\n",
            $name, $name, $course['id'], htmlspecialchars($course['title']),
            htmlspecialchars($banner === false ? 'Welcome.' : (string) $banner), htmlspecialchars($this->release()));
    }

    /** 200 {"status":"ok"} only when MariaDB answers SELECT 1 and Redis answers PING; 503 naming what failed. */
    private function health(): void
    {
        $checks = [];
        try {
            $checks['database'] = (int) $this->db()->query('SELECT 1')->fetchColumn() === 1 ? 'ok' : 'fail';
        } catch (Throwable $e) {
            $this->report($e);
            $checks['database'] = 'fail';
        }
        try {
            $pong = $this->redis()->ping();
            $checks['redis'] = ($pong === true || $pong === '+PONG' || $pong === 'PONG') ? 'ok' : 'fail';
        } catch (Throwable $e) {
            $this->report($e);
            $checks['redis'] = 'fail';
        }
        $ok = !in_array('fail', $checks, true);
        $this->respond($ok ? 200 : 503, ['status' => $ok ? 'ok' : 'fail', 'checks' => $checks, 'release' => $this->release()],
            ['Cache-Control' => 'no-store']);
    }

    /** A course through the Redis cache: GET, on a miss SELECT and SETEX. */
    private function course(int $id): void
    {
        $key = $this->config['redis']['prefix'] . 'course:' . $id;
        $cached = $this->redis()->get($key);
        if ($cached !== false) {
            $this->respond(200, ['course' => json_decode((string) $cached, true), 'source' => 'cache']);
            return;
        }
        $stmt = $this->db()->prepare('SELECT id, title, summary FROM courses WHERE id = ?');
        $stmt->execute([$id]);
        $course = $stmt->fetch();
        if (!$course) {
            $this->respond(404, ['message' => 'Course not found']);
            return;
        }
        $this->redis()->setex($key, max(1, (int) $this->config['cache']['ttl']), json_encode($course));
        $this->respond(200, ['course' => $course, 'source' => 'database']);
    }

    private function dispatch(string $token, string $type): void
    {
        if ($token === '') {
            $token = bin2hex(random_bytes(8));
        }
        if (!preg_match('/^[A-Za-z0-9_-]{1,64}$/', $token) || !in_array($type, ['record-host', 'fail'], true)) {
            $this->respond(422, ['message' => 'token: 1-64 letters, digits, _ or -; type: record-host or fail']);
            return;
        }
        (new Queue($this))->dispatch($token, $type);
        $this->respond(202, ['token' => $token, 'status' => 'queued', 'dispatched_by' => gethostname()]);
    }

    private function job(string $token): void
    {
        $stmt = $this->db()->prepare(
            'SELECT token, type, status, attempts, dispatched_by, processed_by, updated_at FROM job_results WHERE token = ?');
        $stmt->execute([$token]);
        $row = $stmt->fetch();
        $row ? $this->respond(200, $row) : $this->respond(404, ['message' => 'Job not found']);
    }

    private function respond(int $status, array $body, array $headers = []): void
    {
        http_response_code($status);
        header('Content-Type: application/json');
        foreach ($headers as $name => $value) {
            header($name . ': ' . $value);
        }
        echo json_encode($body, JSON_UNESCAPED_SLASHES), "\n";
    }

    // ------------------------------------------------------------------ schema
    /** Creates the tables and seeds the courses; returns what it did (empty when nothing was to do). */
    public function migrate(): array
    {
        $db = $this->db();
        $db->exec('CREATE TABLE IF NOT EXISTS migrations (name VARCHAR(190) PRIMARY KEY, ran_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB');
        $done = $db->query('SELECT name FROM migrations')->fetchAll(PDO::FETCH_COLUMN);
        $migrations = [
            '2024_01_01_000000_create_courses_table' => [
                'CREATE TABLE IF NOT EXISTS courses (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, title VARCHAR(190) NOT NULL, '
                . 'summary TEXT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB',
            ],
            '2024_01_01_000001_create_job_results_table' => [
                'CREATE TABLE IF NOT EXISTS job_results (token VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, '
                . 'status VARCHAR(16) NOT NULL, attempts INT UNSIGNED NOT NULL DEFAULT 0, dispatched_by VARCHAR(190) NULL, '
                . 'processed_by VARCHAR(190) NULL, updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP) ENGINE=InnoDB',
            ],
            '2024_01_01_000002_seed_courses' => [
                "INSERT IGNORE INTO courses (id, title, summary) VALUES "
                . "(1, 'Introduction to Ansible', 'Inventories, playbooks and roles.'), "
                . "(2, 'Linux hardening', 'SSH, firewalls and least privilege.'), "
                . "(3, 'MariaDB for developers', 'Indexes, transactions and backups.'), "
                . "(4, 'Redis in practice', 'Caching, sessions and queues.'), "
                . "(5, 'Zero-downtime deployments', 'Atomic releases and health gates.')",
            ],
        ];
        $ran = [];
        foreach ($migrations as $name => $statements) {
            if (in_array($name, $done, true)) {
                continue;
            }
            foreach ($statements as $sql) {
                $db->exec($sql);
            }
            $db->prepare('INSERT INTO migrations (name) VALUES (?)')->execute([$name]);
            $ran[] = $name;
        }
        return $ran;
    }
}
