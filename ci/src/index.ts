// The main object of the module: it only wires the steps (ci/src/steps), one function each.
import { dag, object, func, argument, type Container, type Directory, type File, type Secret } from '@dagger.io/dagger'
import { serviceConfig } from './config/services.js'
import { build as buildStep, type BuildOptions } from './steps/build.js'
import { test as testStep, testContainer, type TestOptions } from './steps/test.js'
import { commitTag, imageRef, publish as publishStep } from './steps/publish.js'
import { ci as ciStep } from './steps/ci.js'
import { registryOf } from '../adapters/registry.js'

/**
 * The delivery pipeline of GraphMemory-IDE: build, test, scan, SBOM, sign and publish the API, the dashboard and the
 * analytics service. Every function is one pipeline step; `ci` runs them all.
 */
@object()
export class GraphmemoryIde {
  source: Directory
  builderImage: string
  runtimeImage: string
  postgresImage: string
  redisImage: string
  registry: string
  commit: string
  commitTime: number

  /**
   * @param source the repository (services, Dockerfiles, manifests)
   * @param builderImage base image of the build stages (python3 with venv and pip)
   * @param runtimeImage base image of the runtime stage
   * @param postgresImage Postgres bound to the test suites that need it
   * @param redisImage Redis bound to the test suites that need it
   * @param registry where images are published: host[:port][/path]
   * @param commit the commit being built: image tag and revision label
   * @param commitTime commit time in Unix seconds: timestamps and the created label, for reproducible images
   */
  constructor(
    @argument({ defaultPath: '/', ignore: ['**/node_modules', '.git', '**/__pycache__', '**/.pytest_cache', '**/.venv', '.ci-out', 'ci/sdk'] })
    source: Directory,
    builderImage = 'python:3.11-slim-bookworm',
    runtimeImage = 'python:3.11-slim-bookworm',
    postgresImage = 'postgres:15-bookworm',
    redisImage = 'redis:7-bookworm',
    registry = 'ghcr.io/graphmemory',
    commit = '',
    commitTime = 0,
  ) {
    this.source = source
    this.builderImage = builderImage
    this.runtimeImage = runtimeImage
    this.postgresImage = postgresImage
    this.redisImage = redisImage
    this.registry = registry
    this.commit = commit
    this.commitTime = commitTime
  }

  private get buildOptions(): BuildOptions {
    return { builderImage: this.builderImage, runtimeImage: this.runtimeImage, revision: this.commit || 'unknown', sourceDateEpoch: this.commitTime }
  }

  private get testOptions(): TestOptions {
    return { ...this.buildOptions, postgresImage: this.postgresImage, redisImage: this.redisImage }
  }

  /**
   * The runtime image of one service, built from its Dockerfile.
   * @param service api, analytics or dashboard
   */
  @func()
  build(service: string): Container {
    return buildStep(this.source, serviceConfig(service), this.buildOptions)
  }

  /**
   * Runs one service's test suite (its Dockerfile `test` target) with real Postgres and Redis bound as services;
   * returns the JUnit report, fails naming the failing tests.
   * @param service api, analytics or dashboard
   */
  @func()
  async test(service: string): Promise<File> {
    return (await testStep(this.source, serviceConfig(service), this.testOptions)).junit
  }

  /**
   * The test image of one service with its backing services bound: open a shell in it with `terminal`.
   * @param service api, analytics or dashboard
   */
  @func()
  testEnv(service: string): Container {
    return testContainer(this.source, serviceConfig(service), this.testOptions)
  }

  /**
   * Builds one service and pushes it to the registry, tagged with the commit; returns the reference with its digest.
   * @param service api, analytics or dashboard
   * @param username registry user
   * @param password registry password or token
   */
  @func()
  async publish(service: string, username = '', password?: Secret): Promise<string> {
    const config = serviceConfig(service)
    const ref = imageRef(this.registry, config, commitTag(this.commit))
    const auth = password ? { address: registryOf(ref), username, password } : undefined
    return publishStep(this.build(service), ref, auth)
  }

  /**
   * The whole pipeline for every service (or those named): build and test in parallel, scan, SBOM, then publish and
   * sign only when everything passed. Returns a folder with summary.txt, summary.json, images.json and each service's
   * reports; fails with the summary when any step fails.
   * @param services comma-separated service names (default: all)
   * @param username registry user
   * @param password registry password or token; without it nothing is published
   */
  @func()
  async ci(services = '', username = '', password?: Secret): Promise<Directory> {
    return ciStep({
      source: this.source,
      services: services ? services.split(',') : [],
      test: this.testOptions,
      registry: this.registry,
      tag: commitTag(this.commit),
      username,
      password,
      output: dag.directory(),
    })
  }
}
