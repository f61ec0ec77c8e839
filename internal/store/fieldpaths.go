package store

// FieldPaths lists the config and summary keys of a project's runs: what
// the runs table makes columns of and the workspace groups by. Each list is
// sorted (byte order) and holds at most the limit asked for; Truncated says
// a list was cut there.
type FieldPaths struct {
	Config    []string
	Summary   []string
	Truncated bool
}

// ConfigPaths calls add with the path of every leaf of a run config, the
// way the web UI names its columns (web/src/format.ts flatten): keys of
// nested objects joined with dots, unquoted (so {"a.b": 1} and
// {"a": {"b": 1}} are both "a.b"); an object with a "_type" key, an array
// or a scalar (null too) is a leaf; an empty object has none.
func ConfigPaths(cfg map[string]any, add func(path string)) {
	configPaths(cfg, "", add)
}

func configPaths(m map[string]any, prefix string, add func(string)) {
	for k, v := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if o, ok := v.(map[string]any); ok {
			if _, typed := o["_type"]; !typed {
				configPaths(o, p, add)
				continue
			}
		}
		add(p)
	}
}

// SummaryPaths calls add with every key of a summary update whose value is
// set (nil deletes a key): summary columns are top-level keys, not
// flattened, as in the UI (a summary object is one cell).
func SummaryPaths(s map[string]any, add func(path string)) {
	for k, v := range s {
		if v != nil {
			add(k)
		}
	}
}
