package sdk

import (
	"math/big"
	"strings"
	"testing"

	pb "github.com/wfsh/wfsh/plugins/sdk/pluginpb"
)

func TestBindArgsTypes(t *testing.T) {
	f := &Function{Name: "fn", Params: []Param{
		{Name: "n", Default: 0},
		{Name: "s", Default: "x"},
		{Name: "b", Default: false},
		{Name: "l", Default: []any{}},
		{Name: "cmd", Required: true, Type: String},
		{Name: "ratio", Type: Float},
		{Name: "anything"},
	}}
	tests := []struct {
		args map[string]any
		want string // "" for accepted
	}{
		{args: map[string]any{"cmd": "ls"}},
		{args: map[string]any{"cmd": "ls", "n": int64(5), "s": "y", "b": true, "l": Tuple{1}, "ratio": int64(2), "anything": 1.5}},
		{args: map[string]any{"cmd": "ls", "n": new(big.Int).Lsh(big.NewInt(1), 80)}},
		{args: map[string]any{"cmd": "ls", "n": nil, "s": nil}}, // None for optional parameters
		{args: map[string]any{"cmd": "ls", "n": "5"}, want: `fn: argument n: got string "5", want int`},
		{args: map[string]any{"cmd": "ls", "b": "yes"}, want: `fn: argument b: got string "yes", want bool`},
		{args: map[string]any{"cmd": "ls", "s": int64(3)}, want: "fn: argument s: got int 3, want string"},
		{args: map[string]any{"cmd": "ls", "l": "abc"}, want: `fn: argument l: got string "abc", want list`},
		{args: map[string]any{"cmd": int64(1)}, want: "fn: argument cmd: got int 1, want string"},
		{args: map[string]any{"cmd": nil}, want: "fn: argument cmd: got None, want string"},
		{args: map[string]any{"cmd": "ls", "ratio": "1"}, want: `fn: argument ratio: got string "1", want float`},
	}
	for _, tt := range tests {
		var given []*pb.Entry
		for k, v := range tt.args {
			key, _ := Encode(k)
			val, err := Encode(v)
			if err != nil {
				t.Fatal(err)
			}
			given = append(given, &pb.Entry{Key: key, Value: val})
		}
		got, err := bindArgs(f, given)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("bindArgs(%v): %v, want accepted", tt.args, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("bindArgs(%v): %v, want %q", tt.args, err, tt.want)
		case tt.want == "" && len(tt.args) == 1 && got["s"] != "x":
			t.Errorf("bindArgs(%v): s = %v, want its default x", tt.args, got["s"])
		}
	}
}
