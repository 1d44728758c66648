// The generic object client of @kubernetes/client-node with a server-side apply that sends the object exactly as
// given. The library's own patch() serializes known kinds through their typed models, which silently drops any field
// a model lacks (a misspelt field never reaches the server); here the server sees every field and, with
// fieldValidation=Strict, refuses unknown or duplicated ones. Plain JavaScript (typed by object-api.d.mts) so that the
// lab's scripts, which node runs without a TypeScript loader, use this same one.
import * as k8s from '@kubernetes/client-node'

export class ObjectApi extends k8s.KubernetesObjectApi {
  /** A client for a loaded kubeconfig, its default namespace set. */
  static forConfig(kc) {
    const api = kc.makeApiClient(ObjectApi)
    api.setDefaultNamespace(kc)
    return api
  }

  /** Server-side apply of `obj` as given (or of its `subresource`, e.g. status); returns the object as stored. */
  async applyExact(obj, { fieldManager, force = true, dryRun = false, fieldValidation = 'Strict', subresource } = {}) {
    const uri = `${await this.specUriPath(obj, 'patch')}${subresource ? `/${subresource}` : ''}`
    const ctx = this.configuration.baseServer.makeRequestContext(uri, k8s.HttpMethod.PATCH)
    ctx.setHeaderParam('Accept', 'application/json')
    ctx.setHeaderParam('Content-Type', k8s.PatchStrategy.ServerSideApply)
    ctx.setQueryParam('fieldManager', fieldManager)
    ctx.setQueryParam('force', String(force))
    ctx.setQueryParam('fieldValidation', fieldValidation)
    if (dryRun) ctx.setQueryParam('dryRun', 'All')
    ctx.setBody(JSON.stringify(obj))
    return this.requestPromise(ctx)
  }
}
