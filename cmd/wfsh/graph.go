package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wfsh/wfsh/builtins"
	"github.com/wfsh/wfsh/dot"
	"github.com/wfsh/wfsh/runner"
	"github.com/wfsh/wfsh/runtime"
)

type graphFlags struct {
	flow   string
	output string
	params []string
	// --run RUN: colour by the states of a recorded run (graph_run.go).
	run   string
	store storeFlag
}

// graphFormats are the formats of -o, by extension: DOT is written by wfsh,
// the others are rendered by Graphviz's dot.
var graphFormats = map[string]string{".dot": "", ".svg": "svg", ".png": "png"}

// graphvizHint tells how to get Graphviz's dot.
const graphvizHint = dot.GraphvizHint

func newGraphCmd() *cobra.Command {
	var f graphFlags
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Draw a flow's graph as DOT, SVG or PNG, running no task",
		Long: `Build a flow, running no task, and draw its graph: DOT on standard output,
or with -o a file whose extension gives the format: .dot (DOT), .svg or .png
(rendered by Graphviz's dot command, which must be on PATH: Debian package
graphviz). Parameters are ellipses, tasks boxes, reference tasks bold, mapped
tasks double-bordered; data edges are solid, mapped edges bold, ordering
edges (upstream_tasks) dashed, branch conditions dotted and labelled.
Exit status: 0 drawn, 2 bad input.`,
		Example: `  wfsh graph flows/hello_world.star
  wfsh graph flows/local_etl.star -o etl.png
  wfsh graph flows/switch.star -o switch.svg -p choice=a`,
		Args:              oneFile,
		ValidArgsFunction: starFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			return drawGraph(cmd, args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.flow, "flow", "", "the flow to draw, when FILE defines several")
	fl.StringVarP(&f.output, "output", "o", "", "write to this file instead of standard output: .dot, .svg or .png")
	fl.StringArrayVarP(&f.params, "param", "p", nil, "a flow parameter as NAME=VALUE (VALUE is JSON where it parses, else a string)")
	registerGraphRunFlags(fl, &f)
	return cmd
}

func drawGraph(cmd *cobra.Command, path string, f *graphFlags) error {
	if err := handOffFlow(path); err != nil {
		return err
	}
	format, err := graphFormat(f.output)
	if err != nil {
		return badInput(err)
	}
	var dotCmd string
	if format != "" {
		if dotCmd, err = exec.LookPath("dot"); err != nil {
			return badInput(fmt.Errorf("-o %s: %s output needs Graphviz's dot command, which is not on PATH: %s, or write DOT with -o %s",
				f.output, strings.ToUpper(format), graphvizHint, strings.TrimSuffix(f.output, filepath.Ext(f.output))+".dot"))
		}
	}
	raw, err := parseParams(f.params)
	if err != nil {
		return badInput(err)
	}
	params := runner.ParamValues(raw)
	states, err := runStates(cmd.Context(), f, &params)
	if err != nil {
		return err
	}
	r := newRunner(cmd.ErrOrStderr(), runtime.Info, nil, 0)
	defer r.Close()
	fl, err := r.Load(path, f.flow, nil)
	if err != nil {
		return err
	}
	build, err := fl.Flow.Build(builtins.BuildOptions{Params: params, Check: true})
	if err != nil {
		return badInput(err)
	}
	var buf bytes.Buffer
	if err := dot.Write(&buf, build.Graph, dot.Options{States: states}); err != nil {
		return err
	}
	out := buf.Bytes()
	switch {
	case f.output == "":
		_, err := cmd.OutOrStdout().Write(out)
		return err
	case format != "":
		if out, err = dot.Render(cmd.Context(), dotCmd, format, out); err != nil {
			return &exitError{code: exitFailed, err: err}
		}
	}
	if err := os.WriteFile(f.output, out, 0o644); err != nil {
		return badInput(fmt.Errorf("-o: %v", err))
	}
	return nil
}

// graphFormat returns dot's -T format for the output file name: "" for DOT
// (and for standard output).
func graphFormat(output string) (string, error) {
	if output == "" {
		return "", nil
	}
	ext := strings.ToLower(filepath.Ext(output))
	format, ok := graphFormats[ext]
	if !ok {
		what := "no extension"
		if ext != "" {
			what = "extension " + ext
		}
		return "", fmt.Errorf("-o %s: unknown format (%s); want a file ending in .dot, .svg or .png", output, what)
	}
	return format, nil
}
