/**
 * Loaded into every test-file process (test/run.ts): coverage is on for this process (its
 * NODE_V8_COVERAGE was read at start-up), and is turned off for what it starts — CLI and
 * service child processes, worker threads — by removing the variable they would inherit.
 * Their code is exercised in process by the suites of their own folders; measuring every
 * child too wrote about 5 GB of raw coverage per run.
 */
delete process.env.NODE_V8_COVERAGE;
