// Entry point of zapas's worker threads, bundled apart from the command (dist/zapas-worker.cjs) so that a
// worker starts without loading the CLI, the S3 client and everything else it never uses.
import { startWorker } from '../lib/sources/files/worker-jobs';

startWorker();
