// Step: run a service's test suite from its Dockerfile `test` target, with real Postgres and Redis bound as services.
import { dag, ReturnType, type Container, type Directory, type File, type Service } from '@dagger.io/dagger'
import type { Backing, ServiceConfig } from '../config/services.js'
import { PipelineError } from '../errors.js'
import { build, type BuildOptions } from './build.js'

export interface TestOptions extends BuildOptions {
  /** Image of the Postgres bound to suites that need it. */
  postgresImage: string
  /** Image of the Redis bound to suites that need it. */
  redisImage: string
}

/** What a suite run left behind. */
export interface TestResult {
  /** JUnit XML report of the run. */
  junit: File
  /** The suite's own last lines (pytest's summary). */
  summary: string
}

const JUNIT = '/tmp/junit.xml'

/** A throw-away backing service for one suite: trust auth on a private network, no secret involved. */
function backing(kind: Backing, options: TestOptions): { url: string; service: Service } {
  if (kind === 'postgres') {
    const service = dag.container().from(options.postgresImage)
      .withEnvVariable('POSTGRES_USER', 'gmi').withEnvVariable('POSTGRES_DB', 'gmi_test')
      .withEnvVariable('POSTGRES_HOST_AUTH_METHOD', 'trust')
      .withExposedPort(5432).asService({ useEntrypoint: true })
    return { url: 'postgresql://gmi@postgres:5432/gmi_test', service }
  }
  const service = dag.container().from(options.redisImage).withExposedPort(6379).asService({ useEntrypoint: true })
  return { url: 'redis://redis:6379/0', service }
}

const URL_VARIABLE: Record<Backing, string> = { postgres: 'TEST_DATABASE_URL', redis: 'TEST_REDIS_URL' }

/** The test image of a service with its backing services bound and their URLs set: ready to run the suite. */
export function testContainer(source: Directory, service: ServiceConfig, options: TestOptions): Container {
  let container = build(source, service, options, 'test')
  for (const kind of service.testNeeds) {
    const { url, service: bound } = backing(kind, options)
    container = container.withServiceBinding(kind, bound).withEnvVariable(URL_VARIABLE[kind], url)
  }
  return container
}

/** The lines of pytest's output worth showing: failures and the final count. */
export function pytestSummary(output: string): string {
  const lines = output.trim().split('\n')
  const failures = lines.filter((l) => /^(FAILED|ERROR) /.test(l))
  return [...failures.slice(0, 20), lines.at(-1) ?? ''].join('\n').trim()
}

/** Runs the service's suite; fails with the failing tests named when any fails. */
export async function test(source: Directory, service: ServiceConfig, options: TestOptions): Promise<TestResult> {
  const run = testContainer(source, service, options)
    .withExec(['python', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-o', 'junit_family=xunit2',
      `--junitxml=${JUNIT}`, 'tests'], { expect: ReturnType.Any })
  const [exitCode, stdout, stderr] = await Promise.all([run.exitCode(), run.stdout(), run.stderr()])
  const summary = pytestSummary(stdout || stderr)
  if (exitCode !== 0) {
    throw new PipelineError(`tests of ${service.name} failed`, `pytest exited ${exitCode}:\n${summary}`,
      `reproduce with \`npm run pipeline -- test --service ${service.name}\` (or \`dagger call test --service ${service.name}\`)`)
  }
  return { junit: run.file(JUNIT), summary }
}
