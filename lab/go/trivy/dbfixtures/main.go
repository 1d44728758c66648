// Command dbfixtures builds the lab's offline Trivy vulnerability DB from advisory fixtures the repo owns, with the
// same trivy-db code that builds the official DB (vulndb.Build with the GitHub advisory source), then packs it as
// Trivy's OCI artifact (one tar+gzip layer titled db.tar.gz) and, when asked, pushes it to a registry.
//
//	dbfixtures -fixtures lab/trivy-db/fixtures -out DIR [-push 127.0.0.1:5000/gmi-lab/trivy-db:TAG]
//
// Fixtures: <fixtures>/ghsa/*.yaml (or .json), each one OSV entry as GitHub's advisory database writes it.
// Output: DIR/db/trivy.db, DIR/db/metadata.json (schema 2, NextUpdate far in the future), DIR/db.tar.gz.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	"github.com/aquasecurity/trivy-db/pkg/db"
	trivytypes "github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulndb"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/ghsa"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
)

const (
	layerMediaType  = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
	configMediaType = "application/vnd.aquasec.trivy.config.v1+json"
	titleAnnotation = "org.opencontainers.image.title"
	// The lab DB never expires: Trivy skips the download once it holds this DB.
	validFor = 50 * 365 * 24 * time.Hour
)

// source is the hash of this file, stamped in by the lab's build (lab/components/scanners.mjs), so that a changed
// program gets a new build stamp and is rebuilt.
var source = "dev"

func main() {
	fixtures := flag.String("fixtures", "", "folder of advisory fixtures (ghsa/*.yaml)")
	out := flag.String("out", "", "output folder: db/trivy.db, db/metadata.json, db.tar.gz")
	push := flag.String("push", "", "registry reference to push the DB artifact to (optional)")
	updatedAt := flag.String("updated-at", "2026-11-27T00:00:00Z", "UpdatedAt written to metadata.json (fixed: builds are repeatable)")
	flag.Parse()
	if *fixtures == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*fixtures, *out, *push, *updatedAt); err != nil {
		fmt.Fprintf(os.Stderr, "dbfixtures: %v\n", err)
		os.Exit(1)
	}
}

func run(fixtures, out, push, updatedAt string) error {
	at, err := time.Parse(time.RFC3339, updatedAt)
	if err != nil {
		return fmt.Errorf("-updated-at: %w", err)
	}
	src, err := os.MkdirTemp("", "trivy-db-src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	n, err := stageGHSA(filepath.Join(fixtures, "ghsa"), src)
	if err != nil {
		return err
	}

	dbDir := filepath.Join(out, "db")
	if err := os.RemoveAll(dbDir); err != nil {
		return err
	}
	if err := db.Init(dbDir); err != nil {
		return fmt.Errorf("opening %s: %w", dbDir, err)
	}
	srcs := map[trivytypes.SourceID]vulnsrc.VulnSrc{vulnerability.GHSA: ghsa.NewVulnSrc()}
	build := vulndb.New(src, dbDir, validFor, vulndb.WithVulnSrcs(srcs), vulndb.WithClock(clocktesting.NewFakeClock(at)))
	if err := build.Build([]string{string(vulnerability.GHSA)}); err != nil {
		_ = db.Close()
		return fmt.Errorf("building the DB: %w", err)
	}
	if err := db.Close(); err != nil {
		return err
	}

	archive, err := tarGz(dbDir, []string{"trivy.db", "metadata.json"}, at)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "db.tar.gz"), archive, 0o644); err != nil {
		return err
	}
	fmt.Printf("built %s from %d advisories (%d bytes packed; builder %s)\n", dbDir, n, len(archive), source)

	if push != "" {
		digest, err := pushArtifact(archive, push)
		if err != nil {
			return fmt.Errorf("pushing %s: %w", push, err)
		}
		fmt.Printf("pushed %s@%s\n", push, digest)
	}
	return nil
}

// stageGHSA converts each YAML fixture to the JSON layout the GHSA source reads:
// <root>/ghsa/advisories/github-reviewed/<id>.json, plus the (empty) CocoaPods specs folder it walks.
func stageGHSA(dir, root string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("reading fixtures: %w", err)
	}
	dst := filepath.Join(root, "ghsa", "advisories", "github-reviewed")
	for _, d := range []string{dst, filepath.Join(root, "cocoapods-specs", "Specs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return 0, err
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return 0, fmt.Errorf("fixture %s: %w", e.Name(), err)
		}
		if err := os.WriteFile(filepath.Join(dst, strings.TrimSuffix(e.Name(), ext)+".json"), js, 0o644); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("no advisories in %s", dir)
	}
	return n, nil
}

// tarGz packs files of dir with fixed owners and times, so equal inputs give equal bytes.
func tarGz(dir string, files []string, at time.Time) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Name: f, Mode: 0o644, Size: int64(len(data)), ModTime: at, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pushArtifact writes the DB as Trivy's OCI artifact: one layer of layerMediaType titled db.tar.gz.
func pushArtifact(archive []byte, ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), configMediaType)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(archive, layerMediaType),
		Annotations: map[string]string{titleAnnotation: "db.tar.gz"},
	})
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img); err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}
