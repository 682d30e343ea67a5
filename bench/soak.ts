// `npm run soak [-- --minutes N --clients N]`: the chaos soak (test/helpers/soak.ts) for as
// long as asked, with the figures at the end. `npm test` runs a short one (test/soak.test.ts).
import { soak } from '../test/helpers/soak.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const minutes = arg('minutes', 5);
const clients = arg('clients', 8);
const started = Date.now();
const r = await soak({ seconds: minutes * 60, clients, killEveryMs: [2000, 5000], log: (l) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${l}\n`) });
console.log(JSON.stringify({ ...r, wallSeconds: Math.round((Date.now() - started) / 1000) }, null, 2));
process.exit(r.problems.length || r.leftovers.length ? 1 : 0);
