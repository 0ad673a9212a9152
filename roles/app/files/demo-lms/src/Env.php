<?php
declare(strict_types=1);

namespace Lms;

/** Reads a Laravel-style .env file (KEY=VALUE, optional quotes, # comments) and builds the config. */
final class Env
{
    /** @return array<string, string> */
    public static function parse(string $file): array
    {
        $vars = [];
        $lines = @file($file, FILE_IGNORE_NEW_LINES);
        if ($lines === false) {
            return $vars;
        }
        foreach ($lines as $line) {
            $line = trim($line);
            if ($line === '' || $line[0] === '#' || !str_contains($line, '=')) {
                continue;
            }
            [$key, $value] = explode('=', $line, 2);
            $key = trim(preg_replace('/^export\s+/', '', $key));
            $value = trim($value);
            if (strlen($value) >= 2 && ($value[0] === '"' || $value[0] === "'") && $value[-1] === $value[0]) {
                $value = substr($value, 1, -1);
            } else {
                $value = trim(preg_replace('/\s+#.*$/', '', $value));
            }
            $vars[$key] = $value;
        }
        return $vars;
    }

    /** The application's configuration from the environment file's values. */
    public static function config(array $env): array
    {
        $get = static fn (string $k, string $d = ''): string => $env[$k] ?? $d;
        $bool = static fn (string $k, bool $d): bool => filter_var($env[$k] ?? ($d ? 'true' : 'false'), FILTER_VALIDATE_BOOLEAN);
        return [
            'app' => [
                'name' => $get('APP_NAME', 'LMS'),
                'env' => $get('APP_ENV', 'production'),
                'key' => $get('APP_KEY'),
                'debug' => $bool('APP_DEBUG', false),
                'url' => $get('APP_URL', 'http://localhost'),
            ],
            'database' => [
                'host' => $get('DB_HOST', '127.0.0.1'),
                'port' => (int) $get('DB_PORT', '3306'),
                'database' => $get('DB_DATABASE', 'lms'),
                'username' => $get('DB_USERNAME', 'lms'),
                'password' => $get('DB_PASSWORD'),
                'persistent' => $bool('DB_PERSISTENT', true),
            ],
            'redis' => [
                'host' => $get('REDIS_HOST', '127.0.0.1'),
                'port' => (int) $get('REDIS_PORT', '6379'),
                'username' => $get('REDIS_USERNAME'),
                'password' => $get('REDIS_PASSWORD'),
                'persistent' => $bool('REDIS_PERSISTENT', true),
                'prefix' => $get('REDIS_PREFIX', 'lms:'),
            ],
            'queue' => [
                'connection' => $get('QUEUE_CONNECTION', 'redis'),
                'queue' => $get('REDIS_QUEUE', 'default'),
            ],
            'session' => ['driver' => $get('SESSION_DRIVER', 'redis')],
            'cache' => ['store' => $get('CACHE_STORE', 'redis'), 'ttl' => (int) $get('CACHE_TTL', '60')],
        ];
    }
}
