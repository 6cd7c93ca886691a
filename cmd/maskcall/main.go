// Command maskcall runs masked calling on Vonage.
package main

import (
	"os"

	"github.com/maskcall/maskcall/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
