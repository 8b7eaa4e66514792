/**
 * `node --import tsx scripts/registry.ts install`: fetches the local schema registry
 * (Apicurio Registry, dev/local-registry.ts) once; used by setup.sh --test so no test
 * downloads it mid-run.
 */
import { ensureRegistryInstalled, registryJava } from '../dev/local-registry.js';

const verb = process.argv[2];
if (verb !== 'install') {
  console.error('usage: node --import tsx scripts/registry.ts install');
  process.exit(2);
}
ensureRegistryInstalled((m) => console.error(`[registry] ${m}`));
console.error(`[registry] ready (runs with ${registryJava()})`);
