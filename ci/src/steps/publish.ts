// Step: push images to a registry, tagged with the commit, and return their references with digests.
import type { Container, Secret } from '@dagger.io/dagger'
import type { ServiceConfig } from '../config/services.js'
import { publish as push, registryOf, type RegistryAuth } from '../adapters/registry.js'
import { PipelineError } from '../errors.js'

/** The tag images of a commit carry: the first 12 characters of the commit, or "dev" without one. */
export const commitTag = (commit: string): string => (/^[0-9a-f]{7,40}$/.test(commit) ? commit.slice(0, 12) : 'dev')

/** The reference a service's image is published under (registry/graphmemory/api:tag). */
export function imageRef(registry: string, service: ServiceConfig, tag: string): string {
  if (!registry || /^[a-z]+:\/\//i.test(registry) || registry.endsWith('/')) {
    throw new PipelineError(`registry "${registry}" is not usable`, 'a registry is a host[:port] with an optional path, no scheme',
      'pass e.g. --registry ghcr.io/acme or --registry 127.0.0.1:5001')
  }
  return `${registry}/${service.image}:${tag}`
}

/** Credentials for the registry of ref, when a password is given (none: anonymous). */
export function authFor(ref: string, username: string, password?: Secret): RegistryAuth | undefined {
  return password ? { address: registryOf(ref), username, password } : undefined
}

/** Pushes one image and returns its reference with the digest (ref@sha256:...). */
export async function publish(image: Container, ref: string, auth?: RegistryAuth): Promise<string> {
  const pushed = await push(image, ref, auth)
  const digest = pushed.slice(pushed.lastIndexOf('@') + 1)
  return `${ref}@${digest}`
}
