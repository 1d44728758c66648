// Setup file of the `unit` test project: the lab is hidden, so a unit test cannot lean on it by accident. The lab's
// variables (exported by `make test-ts`) are removed and LAB_HOME points at a folder with no lab.env, so lab/env.ts
// finds nothing and `labVar` fails with its "run make lab-up" message.
import os from 'node:os'
import path from 'node:path'

const LAB_VARIABLE = /^(LAB_|KUBECONFIG|_EXPERIMENTAL_DAGGER_|DAGGER_)/

for (const name of Object.keys(process.env)) if (LAB_VARIABLE.test(name)) delete process.env[name]
process.env.LAB_HOME = path.join(os.tmpdir(), 'graphmemory-unit-tests-no-lab')
