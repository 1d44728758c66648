// Package distconsts declares the layout of the lab's Dagger engine image.
//
// Upstream keeps these names in github.com/dagger/dagger/engine/distconsts, a nested module that the Go module
// proxy reachable here refuses at every version. The engine only needs the names to exist; the values below are
// the lab's own choices (where the lab image puts runc, dagger-init and the state folder, which default images the
// engine would name), so lab/go/dagger replaces that module with this one.
package distconsts

// Engine container and socket.
const (
	EngineContainerName   = "dagger-engine.dev"
	DefaultEngineSockAddr = "unix:///run/dagger/engine.sock"
)

// Paths inside the lab engine image (see lab/engine/Dockerfile).
const (
	RuncPath                         = "/usr/local/bin/runc"
	DaggerInitPath                   = "/usr/local/bin/dagger-init"
	EngineDefaultStateDir            = "/var/lib/dagger"
	EngineContainerBuiltinContentDir = "/usr/local/share/dagger/content"
	EngineCustomCACertsDir           = "/usr/local/share/ca-certificates"
)

// Environment variable names for SDK manifests baked into an engine image (the lab bakes none).
const (
	GoSDKManifestDigestEnvName         = "DAGGER_GO_SDK_MANIFEST_DIGEST"
	PythonSDKManifestDigestEnvName     = "DAGGER_PYTHON_SDK_MANIFEST_DIGEST"
	TypescriptSDKManifestDigestEnvName = "DAGGER_TYPESCRIPT_SDK_MANIFEST_DIGEST"
)

// Helper images the engine names for some built-in operations (pulled through the lab mirror when used).
const (
	AlpineVersion  = "3.22.1"
	AlpineImage    = "alpine:" + AlpineVersion
	GolangVersion  = "1.25.5"
	GolangImage    = "golang:" + GolangVersion + "-alpine"
	BusyboxVersion = "1.37.0"
	BusyboxImage   = "busybox:" + BusyboxVersion
)

// OCIVersionAnnotation names the image annotation that carries the engine version.
const OCIVersionAnnotation = "org.opencontainers.image.version"
