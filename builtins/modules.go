package builtins

import (
	"fmt"
	"io"
	gomath "math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	gotime "time"

	"gopkg.in/yaml.v3"

	"go.starlark.net/lib/json"
	"go.starlark.net/lib/math"
	"go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// ExtraBuiltins returns the builtins wfsh adds to Starlark's universe for
// Python familiarity: sum, json, yaml, time, math, random and struct.
func ExtraBuiltins() starlark.StringDict {
	return starlark.StringDict{
		"sum":    starlark.NewBuiltin("sum", sum),
		"json":   jsonModule,
		"yaml":   yamlModule(),
		"time":   time.Module,
		"math":   math.Module,
		"random": randomModule(),
		"struct": starlark.NewBuiltin("struct", starlarkstruct.Make),
	}
}

// jsonModule is Starlark's json module with encode bounded.
var jsonModule = func() *starlarkstruct.Module {
	m := &starlarkstruct.Module{Name: json.Module.Name, Members: starlark.StringDict{}}
	for k, v := range json.Module.Members {
		m.Members[k] = v
	}
	encode := json.Module.Members["encode"].(*starlark.Builtin)
	m.Members["encode"] = starlark.NewBuiltin("json.encode", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) == 1 {
			if err := checkEncodable(b.Name(), args[0]); err != nil {
				return nil, err
			}
		}
		return starlark.Call(thread, encode, args, kwargs)
	})
	m.Freeze()
	return m
}()

// maxEncodeValues and maxEncodeBytes bound what json.encode and
// yaml.encode write: values (elements, keys, scalars) and the bytes of
// its strings, a part held several times counting each time. A list that
// holds the same list many times over is small in memory and written out
// whole for each time.
const (
	maxEncodeValues = 1 << 22
	maxEncodeBytes  = 256 << 20
)

// checkEncodable refuses a value that written out goes past the bounds,
// looking no further than them.
func checkEncodable(name string, v starlark.Value) error {
	values, bytes := 0, 0
	var walk func(v starlark.Value, depth int) bool
	walk = func(v starlark.Value, depth int) bool {
		values++
		if values > maxEncodeValues || bytes > maxEncodeBytes {
			return false
		}
		if depth > maxArgDepth {
			return true // deeper, or a cycle: the encoder's own checks say so
		}
		switch v := v.(type) {
		case starlark.String:
			bytes += len(v)
		case starlark.Bytes:
			bytes += len(v)
		case starlark.Indexable: // list, tuple
			for i := range v.Len() {
				if !walk(v.Index(i), depth+1) {
					return false
				}
			}
		case *starlark.Dict:
			for k, x := range v.Entries() {
				if !walk(k, depth+1) || !walk(x, depth+1) {
					return false
				}
			}
		case *starlarkstruct.Struct:
			for _, name := range v.AttrNames() {
				x, _ := v.Attr(name)
				if !walk(x, depth+1) {
					return false
				}
			}
		}
		return true
	}
	if !walk(v, 0) {
		return fmt.Errorf("%s: the value is too large to write out: more than %d values or %d MiB of strings (a part held several times counts each time)", name, maxEncodeValues, maxEncodeBytes>>20)
	}
	return nil
}

// sum(iterable, start=0) adds the elements of iterable to start, like
// Python's sum.
func sum(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var iterable starlark.Iterable
	var acc starlark.Value = starlark.MakeInt(0)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "iterable", &iterable, "start?", &acc); err != nil {
		return nil, err
	}
	if _, ok := acc.(starlark.String); ok {
		return nil, fmt.Errorf("%s: cannot sum strings, use \"\".join(iterable) instead", b.Name())
	}
	iter := iterable.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		var err error
		if acc, err = starlark.Binary(syntax.PLUS, acc, x); err != nil {
			return nil, fmt.Errorf("%s: %v", b.Name(), err)
		}
	}
	return acc, nil
}

// randKey is the thread-local key of a thread's random generator.
const randKey = "wfsh.random"

var randSeq atomic.Uint64 // tells apart generators created at the same instant

func randomModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "random", Members: starlark.StringDict{
		"randint": starlark.NewBuiltin("random.randint", randint),
		"choice":  starlark.NewBuiltin("random.choice", choice),
		"random":  starlark.NewBuiltin("random.random", random),
		"shuffle": starlark.NewBuiltin("random.shuffle", shuffle),
		"seed":    starlark.NewBuiltin("random.seed", seed),
	}}
}

// threadRand returns the thread's generator, creating it on first use, so
// that tasks running on different goroutines never share one.
func threadRand(thread *starlark.Thread) *rand.Rand {
	if r, ok := thread.Local(randKey).(*rand.Rand); ok {
		return r
	}
	r := rand.New(rand.NewPCG(uint64(gotime.Now().UnixNano()), randSeq.Add(1)))
	thread.SetLocal(randKey, r)
	return r
}

// randint(a, b) returns a random integer n such that a <= n <= b.
func randint(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var lo, hi int64
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "a", &lo, "b", &hi); err != nil {
		return nil, err
	}
	if lo > hi {
		return nil, fmt.Errorf("%s: a must be <= b", b.Name())
	}
	r := threadRand(thread)
	span := uint64(hi-lo) + 1 // 0 when the range covers every int64
	n := r.Uint64()
	if span != 0 {
		n = r.Uint64N(span)
	}
	return starlark.MakeInt64(lo + int64(n)), nil
}

// choice(seq) returns a random element of a non-empty sequence.
func choice(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "seq", &v); err != nil {
		return nil, err
	}
	seq, ok := v.(starlark.Indexable)
	if !ok {
		return nil, fmt.Errorf("%s: for parameter seq: got %s, want a sequence", b.Name(), v.Type())
	}
	if seq.Len() == 0 {
		return nil, fmt.Errorf("%s: cannot choose from an empty sequence", b.Name())
	}
	return seq.Index(threadRand(thread).IntN(seq.Len())), nil
}

// random() returns a random float in [0, 1).
func random(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.Float(threadRand(thread).Float64()), nil
}

// shuffle(list) shuffles a list in place.
func shuffle(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var list *starlark.List
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "list", &list); err != nil {
		return nil, err
	}
	r := threadRand(thread)
	for i := list.Len() - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		x, y := list.Index(i), list.Index(j)
		if err := list.SetIndex(i, y); err != nil {
			return nil, fmt.Errorf("%s: %v", b.Name(), err)
		}
		_ = list.SetIndex(j, x) // cannot fail: the list was mutable a moment ago
	}
	return starlark.None, nil
}

// seed(n) makes the thread's generator deterministic from n.
func seed(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var n int64
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "n", &n); err != nil {
		return nil, err
	}
	thread.SetLocal(randKey, rand.New(rand.NewPCG(uint64(n), 0)))
	return starlark.None, nil
}

func yamlModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "yaml", Members: starlark.StringDict{
		"encode": starlark.NewBuiltin("yaml.encode", yamlEncode),
		"decode": starlark.NewBuiltin("yaml.decode", yamlDecode),
	}}
}

// yamlEncode encodes a JSON-like value as a YAML document; dicts keep
// their key order.
func yamlEncode(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	if err := checkEncodable(b.Name(), v); err != nil {
		return nil, err
	}
	node, err := (&yamlEncoder{}).node(v)
	if err != nil {
		return nil, yamlError(b, err)
	}
	var buf strings.Builder
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, yamlError(b, err)
	}
	return starlark.String(buf.String()), nil
}

// A yamlEncoder converts Starlark values to YAML nodes.
type yamlEncoder struct {
	path []starlark.Value // the lists and dicts being encoded, to catch cycles
}

func (e *yamlEncoder) node(v starlark.Value) (*yaml.Node, error) {
	switch v := v.(type) {
	case starlark.NoneType:
		return yamlScalar("!!null", "null"), nil
	case starlark.Bool:
		return yamlScalar("!!bool", strconv.FormatBool(bool(v))), nil
	case starlark.Int:
		return yamlScalar("!!int", v.String()), nil
	case starlark.Float:
		return yamlScalar("!!float", yamlFloat(float64(v))), nil
	case starlark.String:
		return yamlScalar("!!str", string(v)), nil
	case *starlarkstruct.Struct:
		return e.structNode(v)
	case *starlark.Dict, *starlark.List, starlark.Tuple:
		return e.container(v)
	}
	return nil, fmt.Errorf("cannot encode %s as yaml", v.Type())
}

func yamlScalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

func yamlFloat(f float64) string {
	switch {
	case gomath.IsNaN(f):
		return ".nan"
	case gomath.IsInf(f, 1):
		return ".inf"
	case gomath.IsInf(f, -1):
		return "-.inf"
	}
	return starlark.Float(f).String() // keeps a ".0" so it reads back as a float
}

// container encodes a dict, list or tuple, failing on cycles.
func (e *yamlEncoder) container(v starlark.Value) (*yaml.Node, error) {
	if t, ok := v.(starlark.Tuple); ok { // immutable: a cycle must pass through a list or dict
		return e.sequence(t)
	}
	if slices.Contains(e.path, v) {
		return nil, fmt.Errorf("cannot encode cyclic %s", v.Type())
	}
	e.path = append(e.path, v)
	defer func() { e.path = e.path[:len(e.path)-1] }()
	if d, ok := v.(*starlark.Dict); ok {
		return e.mapping(d.Items())
	}
	return e.sequence(v.(*starlark.List))
}

func (e *yamlEncoder) sequence(seq starlark.Indexable) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i := range seq.Len() {
		item, err := e.node(seq.Index(i))
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, item)
	}
	return n, nil
}

func (e *yamlEncoder) mapping(items []starlark.Tuple) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, kv := range items {
		k, err := e.node(kv[0])
		if err != nil {
			return nil, err
		}
		v, err := e.node(kv[1])
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, k, v)
	}
	return n, nil
}

func (e *yamlEncoder) structNode(s *starlarkstruct.Struct) (*yaml.Node, error) {
	var items []starlark.Tuple
	for _, name := range s.AttrNames() {
		v, err := s.Attr(name)
		if err != nil {
			return nil, err
		}
		items = append(items, starlark.Tuple{starlark.String(name), v})
	}
	return e.mapping(items)
}

// yamlDecode decodes a YAML document into Starlark values: mappings become
// dicts in document order, integers stay exact however large.
func yamlDecode(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &src); err != nil {
		return nil, err
	}
	doc, err := yamlDocument(src)
	if err != nil {
		return nil, yamlError(b, err)
	}
	if doc == nil {
		return starlark.None, nil
	}
	if err := checkExpansion(doc); err != nil {
		return nil, yamlError(b, err)
	}
	v, err := newYAMLDecoder().value(doc)
	if err != nil {
		return nil, yamlError(b, err)
	}
	return v, nil
}

// yamlError names the builtin in place of the library's "yaml: " prefix.
func yamlError(b *starlark.Builtin, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(strings.TrimPrefix(msg, "unmarshal errors:\n  "), "\n  ", "; ")
	return fmt.Errorf("%s: %s", b.Name(), msg)
}

// yamlDocument parses the single document in src; nil means empty.
func yamlDocument(src string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(src))
	var doc, next yaml.Node
	if err := dec.Decode(&doc); err == io.EOF {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if err := dec.Decode(&next); err != io.EOF {
		return nil, fmt.Errorf("line %d: expected a single document", next.Line)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// maxYAMLValues bounds the values a YAML document stands for once its
// aliases are expanded, each alias counting the values of its anchor,
// unless that is less than ten times the document's own nodes. The value
// decoded shares an anchor's value among its aliases, small in memory,
// but written out (as a result, by json.encode) or walked it is as large
// as its expansion: a "billion laughs" of a few lines would not fit.
const maxYAMLValues = 1 << 20

// checkExpansion refuses a document whose aliases expand it past
// maxYAMLValues, naming the alias where it went past.
func checkExpansion(doc *yaml.Node) error {
	sizes := map[*yaml.Node]int{}
	own := 0
	var past *yaml.Node
	var walk func(n *yaml.Node) int
	walk = func(n *yaml.Node) int {
		if n.Kind == yaml.AliasNode {
			own++
			return sizes[n.Alias] + 1
		}
		own++
		total := 1
		for _, c := range n.Content {
			total = min(total+walk(c), 1<<40) // no overflow, whatever the aliases
			if total > maxYAMLValues && past == nil && c.Kind == yaml.AliasNode {
				past = c
			}
		}
		if n.Anchor != "" {
			sizes[n] = total
		}
		return total
	}
	total := walk(doc)
	if total > maxYAMLValues && total > 10*own {
		where := ""
		if past != nil {
			where = fmt.Sprintf("line %d: ", past.Line)
		}
		return fmt.Errorf("%sthe document stands for more than %d values once its aliases are expanded (%d nodes written); aliases of aliases multiply", where, maxYAMLValues, own)
	}
	return nil
}

// A yamlDecoder converts YAML nodes to Starlark values. An alias yields the
// very value of its anchor, as in Python, so converting stays linear.
type yamlDecoder struct {
	anchors map[*yaml.Node]starlark.Value // converted anchored nodes
	busy    map[*yaml.Node]bool           // aliased nodes being converted
}

func newYAMLDecoder() *yamlDecoder {
	return &yamlDecoder{anchors: make(map[*yaml.Node]starlark.Value), busy: make(map[*yaml.Node]bool)}
}

func (d *yamlDecoder) value(n *yaml.Node) (starlark.Value, error) {
	if n.Kind == yaml.AliasNode {
		return d.alias(n)
	}
	v, err := d.convert(n)
	if err == nil && n.Anchor != "" {
		d.anchors[n] = v
	}
	return v, err
}

func (d *yamlDecoder) convert(n *yaml.Node) (starlark.Value, error) {
	switch n.Kind {
	case yaml.MappingNode:
		return d.mapping(n)
	case yaml.SequenceNode:
		return d.sequence(n)
	}
	return scalarValue(n)
}

func (d *yamlDecoder) alias(n *yaml.Node) (starlark.Value, error) {
	if v, ok := d.anchors[n.Alias]; ok {
		return v, nil
	}
	if d.busy[n.Alias] {
		return nil, fmt.Errorf("line %d: alias *%s refers to itself", n.Line, n.Value)
	}
	d.busy[n.Alias] = true
	defer delete(d.busy, n.Alias)
	return d.value(n.Alias)
}

func (d *yamlDecoder) sequence(n *yaml.Node) (starlark.Value, error) {
	elems := make([]starlark.Value, len(n.Content))
	for i, c := range n.Content {
		v, err := d.value(c)
		if err != nil {
			return nil, err
		}
		elems[i] = v
	}
	return starlark.NewList(elems), nil
}

// mapping builds a dict; keys set explicitly override merged ("<<") keys.
func (d *yamlDecoder) mapping(n *yaml.Node) (starlark.Value, error) {
	dict := starlark.NewDict(len(n.Content) / 2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			err = d.merge(dict, v)
		} else {
			err = d.setKey(dict, k, v)
		}
		if err != nil {
			return nil, err
		}
	}
	return dict, nil
}

func (d *yamlDecoder) setKey(dict *starlark.Dict, k, v *yaml.Node) error {
	key, err := d.value(k)
	if err != nil {
		return err
	}
	val, err := d.value(v)
	if err != nil {
		return err
	}
	if err := dict.SetKey(key, val); err != nil {
		return fmt.Errorf("line %d: %v", k.Line, err)
	}
	return nil
}

// merge adds the keys of a mapping, or of a sequence of mappings (the
// first one wins), that dict does not have yet.
func (d *yamlDecoder) merge(dict *starlark.Dict, n *yaml.Node) error {
	from, err := d.value(n)
	if err != nil {
		return err
	}
	srcs, ok := from.(*starlark.List)
	if !ok {
		srcs = starlark.NewList([]starlark.Value{from})
	}
	for src := range srcs.Elements() {
		m, ok := src.(*starlark.Dict)
		if !ok {
			return fmt.Errorf("line %d: merge (<<) wants a mapping or a list of mappings, got %s", n.Line, src.Type())
		}
		for k, v := range m.Entries() {
			if _, found, _ := dict.Get(k); !found {
				dict.SetKey(k, v) // keys from a dict are hashable
			}
		}
	}
	return nil
}

// intLike is compiled on first use, not at every wfsh start.
var intLike = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`) })

// scalarValue converts a scalar by its resolved tag. The YAML library
// resolves integers too large for 64 bits as floats: those stay integers.
func scalarValue(n *yaml.Node) (starlark.Value, error) {
	tag := n.ShortTag()
	if tag == "!!int" || tag == "!!float" && n.Style&yaml.TaggedStyle == 0 && intLike().MatchString(n.Value) {
		return bigInt(n)
	}
	switch tag {
	case "!!str", "!!timestamp":
		return starlark.String(n.Value), nil
	case "!!null":
		return starlark.None, nil
	case "!!bool", "!!float", "!!binary":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		return goScalar(v), nil
	}
	return nil, fmt.Errorf("line %d: unsupported tag %s", n.Line, n.Tag)
}

// goScalar converts what the YAML library decodes for a bool, float or
// binary scalar.
func goScalar(v any) starlark.Value {
	switch v := v.(type) {
	case bool:
		return starlark.Bool(v)
	case float64:
		return starlark.Float(v)
	case string: // !!binary, base64-decoded
		return starlark.Bytes(v)
	}
	return starlark.None
}

func bigInt(n *yaml.Node) (starlark.Value, error) {
	i, ok := new(big.Int).SetString(strings.ReplaceAll(n.Value, "_", ""), 0)
	if !ok {
		return nil, fmt.Errorf("line %d: invalid integer %q", n.Line, n.Value)
	}
	return starlark.MakeBigInt(i), nil
}
