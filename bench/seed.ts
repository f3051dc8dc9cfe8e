/**
 * Rows for the scale phase (bench/scale.ts), written straight into Baton's store with one
 * set-based statement each, as a long-running deployment would have accumulated them. This is
 * the only bench code that knows the physical layout of the jobs table: when the store's layout
 * changes, only these two functions change.
 *
 * Both end with VACUUM ANALYZE, which autovacuum would have done in production long before a
 * million rows were this old (visibility map set, statistics current), and a CHECKPOINT, as
 * the bench does between systems.
 */
import pg from "pg";

/** Every seeded job's payload: the bytes of a small JSON object, like the bench's own jobs. */
const PAYLOAD = "convert_to('{\"i\":' || g || '}', 'UTF8')";
const MAX_ATTEMPTS = 25;

/**
 * `n` jobs of `queue` that succeeded, finished evenly over the last hour (inside the default
 * succeeded retention of a day, so the retention sweeper keeps them during the run). Each is the
 * root of its own chain (chain_id = id), as a job enqueued alone is.
 */
export async function seedFinishedJobs(connectionString: string, queue: string, n: number): Promise<void> {
  await seed(
    connectionString,
    `insert into baton.jobs (id, chain_id, queue, state, payload, max_attempts, attempt,
                             create_time, run_time, attempt_start_time, finish_time)
     select id, id, $1, 'succeeded', ${PAYLOAD}, ${MAX_ATTEMPTS}, 1,
            finished - interval '1 second', finished - interval '1 second', finished - interval '10 milliseconds', finished
     from (select g, nextval('baton.jobs_id_seq'::regclass) as id,
                  now() - interval '1 hour' + (interval '1 hour' / $2::int) * g as finished
           from generate_series(1, $2::int) as g) as s`,
    [queue, n],
  );
}

/** `n` jobs of `queue` waiting to be claimed, all due, in enqueue order. */
export async function seedBacklog(connectionString: string, queue: string, n: number): Promise<void> {
  await seed(
    connectionString,
    `insert into baton.jobs (id, chain_id, queue, state, payload, max_attempts, create_time, run_time)
     select id, id, $1, 'available', ${PAYLOAD}, ${MAX_ATTEMPTS}, enqueued, enqueued
     from (select g, nextval('baton.jobs_id_seq'::regclass) as id,
                  now() - interval '1 minute' + (interval '1 minute' / $2::int) * g as enqueued
           from generate_series(1, $2::int) as g) as s`,
    [queue, n],
  );
}

async function seed(connectionString: string, insert: string, values: unknown[]): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(insert, values);
    await client.query("vacuum (analyze) baton.jobs");
    // The seed's dirty pages and WAL belong to the seeding, not to the drain timed next.
    await client.query("checkpoint");
  } finally {
    await client.end();
  }
}
