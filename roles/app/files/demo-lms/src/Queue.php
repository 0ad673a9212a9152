<?php
declare(strict_types=1);

namespace Lms;

use Redis;
use Throwable;

/**
 * A Laravel-shaped Redis queue: jobs are JSON payloads in the list `queues:<name>`; a worker moves each
 * one to its reserved list while it runs (BRPOPLPUSH, so a crashed worker's job is not lost), retries a
 * failing job up to --tries, and exits between jobs after --max-time or when `queue:restart` changed
 * the timestamp in `illuminate:queue:restart` (a process manager then starts it on the new release).
 */
final class Queue
{
    public const RESTART_KEY = 'illuminate:queue:restart';

    public function __construct(private readonly App $app)
    {
    }

    private function key(string $queue): string
    {
        return 'queues:' . $queue;
    }

    public function dispatch(string $token, string $type, ?string $queue = null): void
    {
        $queue ??= $this->app->config['queue']['queue'];
        $host = gethostname();
        $this->app->db()->prepare(
            'INSERT INTO job_results (token, type, status, attempts, dispatched_by, processed_by) VALUES (?, ?, ?, 0, ?, NULL) '
            . 'ON DUPLICATE KEY UPDATE type = VALUES(type), status = VALUES(status), attempts = 0, '
            . 'dispatched_by = VALUES(dispatched_by), processed_by = NULL'
        )->execute([$token, $type, 'queued', $host]);
        $payload = json_encode(['uuid' => bin2hex(random_bytes(16)), 'token' => $token, 'type' => $type, 'attempts' => 0,
            'dispatched_by' => $host, 'pushed_at' => microtime(true)]);
        $this->app->redis()->lPush($this->key($queue), $payload);
    }

    public static function restartSignal(Redis $redis): string
    {
        $value = $redis->get(self::RESTART_KEY);
        return $value === false ? '' : (string) $value;
    }

    /** The worker loop; returns the exit code. */
    public function work(array $options, callable $log): int
    {
        $queue = (string) $options['queue'];
        $sleep = max(1, (int) $options['sleep']);
        $tries = max(1, (int) $options['tries']);
        $maxTime = max(0, (int) $options['max-time']);
        $once = (bool) $options['once'];
        $stopWhenEmpty = (bool) $options['stop-when-empty'];
        $started = time();
        $stop = false;
        if (function_exists('pcntl_async_signals')) {
            pcntl_async_signals(true);
            $handler = static function () use (&$stop): void {
                $stop = true;
            };
            pcntl_signal(SIGTERM, $handler);
            pcntl_signal(SIGINT, $handler);
            pcntl_signal(SIGQUIT, $handler);
        }
        $redis = $this->app->redis();
        // BRPOPLPUSH blocks up to --sleep seconds: the socket must wait longer than that.
        $redis->setOption(Redis::OPT_READ_TIMEOUT, (string) ($sleep + 5));
        $reserved = $this->key($queue) . ':reserved:' . gethostname() . ':' . getmypid();
        $restart = self::restartSignal($redis);
        $log(sprintf('Processing jobs from the [%s] queue (tries %d, max-time %ds).', $queue, $tries, $maxTime));
        while (true) {
            if ($stop) {
                $log('Stopping: signal received.');
                return 0;
            }
            if ($maxTime > 0 && time() - $started >= $maxTime) {
                $log('Stopping: --max-time reached.');
                return 0;
            }
            if (self::restartSignal($redis) !== $restart) {
                $log('Stopping: queue:restart was signalled.');
                return 0;
            }
            // Blocks at most --sleep seconds, so the checks above run at least that often.
            $payload = $redis->brpoplpush($this->key($queue), $reserved, $sleep);
            if ($payload === false || $payload === null) {
                if ($stopWhenEmpty) {
                    return 0;
                }
                continue;
            }
            $this->process((string) $payload, $queue, $reserved, $tries, $log);
            if ($once) {
                return 0;
            }
        }
    }

    private function process(string $payload, string $queue, string $reserved, int $tries, callable $log): void
    {
        $redis = $this->app->redis();
        $job = json_decode($payload, true);
        if (!is_array($job) || !isset($job['token'], $job['type'])) {
            $redis->lRem($reserved, $payload, 1);
            $log('Discarded a malformed job.');
            return;
        }
        $job['attempts'] = (int) ($job['attempts'] ?? 0) + 1;
        $host = gethostname();
        try {
            if ($job['type'] === 'fail') {
                throw new \RuntimeException('this job fails on purpose');
            }
            $this->app->db()->prepare('UPDATE job_results SET status = ?, attempts = ?, processed_by = ? WHERE token = ?')
                ->execute(['processed', $job['attempts'], $host, $job['token']]);
            $log(sprintf('Processed %s (%s) on %s.', $job['token'], $job['type'], $host));
        } catch (Throwable $e) {
            $this->app->report($e);
            $final = $job['attempts'] >= $tries;
            try {
                $this->app->db()->prepare('UPDATE job_results SET status = ?, attempts = ?, processed_by = ? WHERE token = ?')
                    ->execute([$final ? 'failed' : 'retrying', $job['attempts'], $host, $job['token']]);
            } catch (Throwable $ignored) {
                // The database itself failed: the retry below still happens.
            }
            if (!$final) {
                $redis->lPush($this->key($queue), json_encode($job));
            }
            $log(sprintf('%s %s (attempt %d of %d).', $final ? 'Failed' : 'Retrying', $job['token'], $job['attempts'], $tries));
        }
        $redis->lRem($reserved, $payload, 1);
    }
}
