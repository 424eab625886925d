package sdk

import (
	"fmt"
	"math/big"
)

// Type is what a parameter accepts. A parameter whose Type is Any and
// whose Default is not None accepts what its default is; None is accepted
// by every parameter that is not Required.
type Type int

const (
	Any Type = iota
	String
	Int
	Bool
	Float // an int is accepted too
	List  // a list or a tuple
	Dict
	Bytes
)

var typeNames = [...]string{"any value", "string", "int", "bool", "float", "list", "dict", "bytes"}

func (t Type) String() string { return typeNames[t] }

// typeOf is the Type of a decoded value.
func typeOf(v any) Type {
	switch v.(type) {
	case string:
		return String
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, *big.Int:
		return Int
	case bool:
		return Bool
	case float64:
		return Float
	case []any, Tuple, []string:
		return List
	case map[string]any:
		return Dict
	case []byte:
		return Bytes
	}
	return Any
}

// want is the Type p accepts.
func (p *Param) want() Type {
	if p.Type != Any || p.Default == nil {
		return p.Type
	}
	return typeOf(p.Default)
}

// checkType refuses an argument of another type than p accepts, so that
// a function never reads a wrong type as the zero value (Call.Int of "5").
func (p *Param) checkType(fn string, v any) error {
	want := p.want()
	if want == Any || (v == nil && !p.Required) {
		return nil
	}
	got := typeOf(v)
	if got == want || (want == Float && got == Int) {
		return nil
	}
	what := "None"
	if v != nil {
		what = got.String() + " " + shortRepr(v)
	}
	return fmt.Errorf("%s: argument %s: got %s, want %s", fn, p.Name, what, want)
}

// shortRepr shows a value in a message, cut to 60 characters.
func shortRepr(v any) string {
	s := fmt.Sprintf("%v", v)
	if _, ok := v.(string); ok {
		s = fmt.Sprintf("%q", v)
	}
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "..."
	}
	return s
}
