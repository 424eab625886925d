package runtime

// Trigger decides, from the final states of a node's upstream runs, whether
// the node may start. A node whose trigger says no ends TriggerFailed.
type Trigger struct {
	Name string
	// AcceptsSkip is true for triggers that run after a skipped upstream
	// instead of propagating the skip (all_finished).
	AcceptsSkip bool
	Fn          func(upstream []State) bool
}

// The triggers of Prefect 1. An empty upstream always passes.
var (
	AllSuccessful = Trigger{Name: "all_successful", Fn: func(up []State) bool { return all(up, State.Successful) }}
	AllFinished   = Trigger{Name: "all_finished", AcceptsSkip: true, Fn: func(up []State) bool { return all(up, State.Finished) }}
	AnySuccessful = Trigger{Name: "any_successful", Fn: func(up []State) bool { return len(up) == 0 || any_(up, State.Successful) }}
	AnyFailed     = Trigger{Name: "any_failed", Fn: func(up []State) bool { return len(up) == 0 || any_(up, State.IsFailed) }}
	AllFailed     = Trigger{Name: "all_failed", Fn: func(up []State) bool { return all(up, State.IsFailed) }}
	NoneFailed    = Trigger{Name: "none_failed", Fn: func(up []State) bool { return !any_(up, State.IsFailed) }}
)

// Triggers lists the built-in triggers by name.
var Triggers = []Trigger{AllSuccessful, AllFinished, AnySuccessful, AnyFailed, AllFailed, NoneFailed}

func all(up []State, pred func(State) bool) bool {
	for _, s := range up {
		if !pred(s) {
			return false
		}
	}
	return true
}

func any_(up []State, pred func(State) bool) bool {
	for _, s := range up {
		if pred(s) {
			return true
		}
	}
	return false
}
