package api

import "net/http"

const (
	pProject = "/api/v1/projects/{entity}/{project}"
	pRun     = pProject + "/runs/{run}"
)

// table declares every route. The OpenAPI document is generated from it.
func (a *API) table() []route {
	filterParams := []param{
		{"filter", "string", `filter expression, e.g. config.lr > 0.001 and state = "finished" and tags has "best"`},
		{"sort", "string", "comma-separated fields, '-' for descending, e.g. -summary.val/acc,created_at"},
		{"limit", "integer", "page size, 1-1000 (default 50)"},
		{"offset", "integer", "runs to skip"},
	}
	histParams := []param{
		{"keys", "string", "comma-separated metric keys (or repeat key=... for keys with commas)"},
		{"min_step", "integer", "first step, inclusive"},
		{"max_step", "integer", "last step, inclusive"},
	}
	opHeader := []param{{OpHeader, "string", "<writer>/<seq>: the spooled op this request replays (the writer id percent-encoded). " +
		"The server applies it once per (run, writer, seq), sharing the seq space of the writer's ingest batches; " +
		"a repeat is answered 200 with the run as it is and \"duplicate\": true, and changes nothing"}}
	return []route{
		{Method: "GET", Path: "/api/v1/openapi.json", Summary: "This OpenAPI document.", Public: true, Resp: "OpenAPI", h: a.openapi},
		{Method: "GET", Path: "/api/v1/viewer", Summary: "The authenticated user and the entities they can use.", Resp: "Viewer", h: a.viewer},
		{Method: "GET", Path: "/api/v1/entities", Summary: "Entities the caller can access.", Resp: "EntityList", h: a.listEntities},
		{Method: "GET", Path: "/api/v1/entities/{entity}/projects", Summary: "Projects of an entity, most recently active first.", Resp: "ProjectList", h: a.listProjects},
		{Method: "GET", Path: pProject, Summary: "One project.", Resp: "Project", h: a.getProject},
		{Method: "GET", Path: pProject + "/runs", Summary: "Runs of a project, filtered, sorted and paged.", Query: filterParams, Resp: "RunList", h: a.listRuns},
		{Method: "POST", Path: pProject + "/runs", Summary: "Create a run, or resume one by id (resume: allow, must, never). Creates the project on first use.", Body: "CreateRun", Header: opHeader, Resp: "Run", Status: http.StatusCreated, h: a.createRun},
		{Method: "GET", Path: pRun, Summary: "One run.", Resp: "Run", h: a.getRun},
		{Method: "PATCH", Path: pRun, Summary: "Update a run's name, config (allow_val_change), summary, tags, notes, group or job type.", Body: "UpdateRun", Header: opHeader, Resp: "Run", h: a.updateRun},
		{Method: "DELETE", Path: pRun, Summary: "Delete a run and everything stored with it: history, console, system samples, alerts, file records. Its id may be used again.", Status: http.StatusNoContent, h: a.deleteRun},
		{Method: "POST", Path: pRun + "/finish", Summary: "Finish a run with an exit code or an explicit terminal state.", Body: "FinishRun", Header: opHeader, Resp: "Run", h: a.finishRun},
		{Method: "GET", Path: pProject + "/run-groups", Summary: "The runs table grouped by a field: each group's label and the ids of every matching run in it, groups in the order of their first run.",
			Query: []param{{"by", "string", "config.<path>, group, job_type, state, user or tags"}, filterParams[0], filterParams[1]}, Resp: "RunGroups", h: a.runGroups},
		{Method: "GET", Path: pProject + "/run-keys", Summary: "Every config path and summary key the project's runs have (the runs table's columns), sorted, at most 10000 of each.", Resp: "RunFieldPaths", h: a.runFields},
		{Method: "GET", Path: pProject + "/keys", Summary: "Every metric key logged in the project, and the type of those that are not numbers.", Resp: "KeyNames", h: a.projectKeys},
		{Method: "GET", Path: pRun + "/keys", Summary: "A run's metric keys with point counts, step ranges and value types.", Resp: "KeyList", h: a.runKeys},
		{Method: "GET", Path: pProject + "/history", Summary: "Chart data: keys of several runs, each downsampled keeping every bucket's first, last, min and max.",
			Query: append([]param{{"runs", "string", "comma-separated run ids"}, {"points", "integer", "points per series, 4-20000 (default 1000)"}, {"fields", "string", "columns to send, comma-separated: steps, times, values (default all three); the others are left out of each series"}, {"x", "string", "a numeric key to plot against: each series keeps the steps where both keys have a point and gains xs, this key's value at each step"}}, histParams...),
			Resp:  "SeriesList", h: a.projectHistory},
		{Method: "GET", Path: pRun + "/history", Summary: "History of one run: every point, downsampled (points=N), or streamed as NDJSON or binary columns (format=ndjson|binary).",
			Query: append([]param{{"points", "integer", "0 for every point (default), or 4-20000"}, {"steps_only", "boolean", "true: steps and times only, values left empty and unread (which steps hold a media value); not with points"}, {"format", "string", "json (default), ndjson (a line per point) or binary (one key; frames of uint32 n, n int64 steps, n float64 times, n float64 values, little endian, ending with n = 0)"}}, histParams...),
			Resp:  "SeriesList", h: a.runHistory},
		{Method: "GET", Path: pRun + "/console", Summary: "Console lines after an offset, as JSON pages, or every line as a plain-text download (format=text).", Query: []param{{"after", "integer", "offset of the last line already read"}, {"limit", "integer", "1-10000 (default 1000; JSON only)"}, {"format", "string", "json (default) or text (an attachment, stderr lines marked [stderr])"}}, Resp: "ConsoleLines", h: a.console},
		{Method: "GET", Path: pRun + "/alerts", Summary: "The run's alerts, newest first, with those suppressed as repeats.", Query: []param{{"limit", "integer", "1-1000 (default 100)"}}, Resp: "Alerts", h: a.listAlerts},
		{Method: "GET", Path: pRun + "/system", Summary: "System-metric samples, oldest first.", Query: []param{{"limit", "integer", "most recent samples to return (default 10000)"}}, Resp: "SystemSamples", h: a.system},
		{Method: "GET", Path: pRun + "/files", Summary: "A run's files with signed download links.", Resp: "FileList", h: a.listFiles},
		{Method: "PUT", Path: pRun + "/files/{name...}", Summary: "Upload (or replace) a run file; the body is the content, stored once per SHA-256 digest. An optional X-Fluoro-SHA256 header (hex) makes a damaged upload a 400 that stores nothing.", Body: "Binary", Resp: "File", Large: true, h: a.uploadFile},
		{Method: "GET", Path: pRun + "/files/{name...}", Summary: "A run file's content, inline, for the browser (API key or session cookie): ETag is the SHA-256, byte ranges supported, sandboxed by Content-Security-Policy; immutable caching when the name embeds the digest.", RespCT: "application/octet-stream", OpID: "getProjectsRunsFile", h: a.getFile},
		{Method: "GET", Path: "/api/v1/files/download", Summary: "Download a file through a signed link from the files endpoint (the link is the credential).", Public: true,
			Query: []param{{"run", "integer", ""}, {"name", "string", ""}, {"exp", "integer", ""}, {"sig", "string", ""}}, RespCT: "application/octet-stream", h: a.download},
		{Method: "POST", Path: "/api/v1/ingest", Summary: "Ingest one batch of history rows, summary updates, console lines, system samples and alerts. Idempotent per (run, writer, seq); the 200 means durable.", Body: "IngestBatch", Resp: "IngestAck",
			Header: []param{{SpooledHeader, "integer", "points the writer has logged so far, sent or not (counted as the batch's logged field): how far it got beyond the batches the server has"}}, h: a.ingest},
		{Method: "POST", Path: "/api/v1/ingest/batches", Summary: "Ingest several batches, one JSON batch per line (NDJSON, at most 10000), applied in their order in one transaction: how a client replays a backlog. Each line is answered in results as POST /ingest would answer it alone; the 200 means every applied line is durable.",
			Body: "IngestBatchLines", Resp: "IngestBatchAnswers",
			Header: []param{{SpooledHeader, "integer", "as for POST /ingest, for every line: send one writer's batches per request"}}, h: a.ingestBatches},
		{Method: "GET", Path: "/api/v1/events", Summary: "Live notifications as Server-Sent Events; resumable with Last-Event-ID.", Query: []param{{"project", "string", "entity/project to follow (default: all the caller can access)"}}, RespCT: "text/event-stream", h: a.events},
	}
}
