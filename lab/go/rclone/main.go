// Command rclone is the lab's object store: rclone's root command with only `serve s3` and the local backend
// compiled in (upstream's main imports every backend and command: a bigger binary and a longer cold build).
package main

import (
	_ "github.com/rclone/rclone/backend/local" // buckets are folders on the host
	"github.com/rclone/rclone/cmd"
	_ "github.com/rclone/rclone/cmd/serve/s3" // registers `rclone serve s3`
	_ "github.com/rclone/rclone/cmd/version"  // `rclone version`: the lab checks the build
)

func main() {
	cmd.Main()
}
