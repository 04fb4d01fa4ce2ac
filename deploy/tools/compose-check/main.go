// compose-check loads Compose files with compose-go, the loader of `docker
// compose` itself: YAML parsing, interpolation, validation against the Compose
// specification's JSON schema, normalization and the consistency checks
// (references between services, networks, volumes and secrets). It needs no
// Docker engine. Usage: compose-check [-print] FILE...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	printYAML := flag.Bool("print", false, "print the normalized project (like `docker compose config`)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-check [-print] FILE...")
		os.Exit(2)
	}
	failed := 0
	for _, file := range flag.Args() {
		if err := check(file, *printYAML); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
			failed++
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func check(file string, printYAML bool) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	opts, err := cli.NewProjectOptions(
		[]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return err
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return err
	}
	names := project.ServiceNames()
	sort.Strings(names)
	fmt.Printf("%s: project %q, %d services: %v\n", file, project.Name, len(names), names)
	if printYAML {
		out, err := project.MarshalYAML()
		if err != nil {
			return err
		}
		os.Stdout.Write(out)
	}
	return nil
}
