<?php
// Boots the demo LMS: configuration (the cached copy written by `artisan config:cache`, else .env),
// then the classes. Shared by public/index.php and the artisan CLI.
declare(strict_types=1);

define('LMS_BASE', dirname(__DIR__));

require LMS_BASE . '/src/Env.php';
require LMS_BASE . '/src/App.php';
require LMS_BASE . '/src/Queue.php';

return \Lms\App::boot(LMS_BASE);
