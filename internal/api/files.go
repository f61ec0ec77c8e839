package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/fluoro-dev/fluoro/internal/blob"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// signedURLTTL is how long a download link works.
const signedURLTTL = time.Hour

// checkFileName validates a run file name: a clean relative path that is
// also a valid blob key (no "..", no leading '/', no control characters).
func checkFileName(name string) error {
	if err := blob.ValidKey(name); err != nil {
		return badData("file name %q: use a relative path without '..', empty segments, backslashes or control characters", name)
	}
	if len(name) > 512 {
		return badData("file name longer than 512 bytes")
	}
	return nil
}

// Blob layout of run files. Contents are stored once per SHA-256 digest,
// under sha256/<first 2 hex>/<other 62 hex>; the files table maps (run,
// name) to the digest and its key. An upload streams into a temporary blob
// under uploads/ while it is hashed, then is renamed to its digest key, or
// dropped when that digest is already stored. Digest blobs are shared, so
// replacing a file never deletes one. Deleting a run deletes the blobs
// no other file uses; digests left unused by replaced files, and uploads/
// left by a crash, wait for a garbage collector (not written yet). Files uploaded before content addressing live under
// runs/<run pk>/files/<name> (their row's blob key says so); such a blob
// belongs to its one file and is deleted when that file is replaced.
const (
	digestPrefix = "sha256/"
	uploadPrefix = "uploads/"
	legacyPrefix = "runs/"
)

// digestKey is the blob key of content with the given hex SHA-256.
func digestKey(sum string) string { return digestPrefix + sum[:2] + "/" + sum[2:] }

// DigestHeader optionally carries the hex SHA-256 of an upload's content;
// the server refuses the upload when the content does not match.
const DigestHeader = "X-Fluoro-SHA256"

// wantDigest reads DigestHeader: "" when absent, else 64 lowercase hex.
func wantDigest(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.Header.Get(DigestHeader))
	if v == "" {
		return "", nil
	}
	v = strings.ToLower(v)
	if _, err := hex.DecodeString(v); err != nil || len(v) != 2*sha256.Size {
		return "", badData("%s: want the content's SHA-256 as 64 hex digits", DigestHeader)
	}
	return v, nil
}

type hashingReader struct {
	r io.Reader
	h hash.Hash
}

func (h hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// stageContent streams body to a temporary blob, hashing it, and returns
// its key, digest and size. When want is set and the content differs, it
// stores nothing.
func (a *API) stageContent(ctx context.Context, body io.Reader, want string) (tmp, sum string, n int64, err error) {
	tmp = uploadPrefix + rand.Text()
	h := sha256.New()
	n, err = a.d.Blobs.Put(ctx, tmp, hashingReader{body, h})
	if err != nil {
		return "", "", 0, err
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if want != "" && sum != want {
		a.dropBlob(ctx, tmp)
		return "", "", 0, badData("content SHA-256 is %s but %s says %s: the upload was damaged or the header is wrong; nothing was stored", sum, DigestHeader, want)
	}
	return tmp, sum, n, nil
}

// fileContent files a staged blob under its digest and returns that key.
// The caller holds BlobLock for reading until the file's row is stored, so a
// run deletion cannot remove the digest's blob in between.
func (a *API) fileContent(ctx context.Context, tmp, sum string) (string, error) {
	key := digestKey(sum)
	switch _, err := a.d.Blobs.Stat(ctx, key); {
	case err == nil:
		a.dropBlob(ctx, tmp) // stored already: same digest, same bytes
	case errors.Is(err, blob.ErrNotFound):
		// Two uploads of new content may race to here; either rename
		// leaves the same bytes under the key.
		if err := a.d.Blobs.Rename(ctx, tmp, key); err != nil {
			a.dropBlob(ctx, tmp)
			return "", err
		}
	default:
		a.dropBlob(ctx, tmp)
		return "", err
	}
	return key, nil
}

func (a *API) dropBlob(ctx context.Context, key string) {
	if err := a.d.Blobs.Delete(context.WithoutCancel(ctx), key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		a.d.Log.Warn("drop blob", "key", key, "err", err)
	}
}

func (a *API) uploadFile(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := checkFileName(name); err != nil {
		return err
	}
	want, err := wantDigest(r)
	if err != nil {
		return err
	}
	old, err := a.d.Store.File(r.Context(), run.PK, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	tmp, sum, n, err := a.stageContent(r.Context(), r.Body, want)
	if err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		ct = typeByName(name)
	}
	a.d.BlobLock.RLock()
	key, err := a.fileContent(r.Context(), tmp, sum)
	if err != nil {
		a.d.BlobLock.RUnlock()
		return err
	}
	f := store.File{RunPK: run.PK, Name: name, Size: n, SHA256: sum, BlobKey: key, ContentType: ct, UpdatedAt: a.now()}
	err = a.d.Store.PutFile(r.Context(), f)
	a.d.BlobLock.RUnlock()
	if err != nil {
		return err
	}
	// A pre-digest blob belonged to this file alone; digest blobs may be
	// shared and stay.
	if strings.HasPrefix(old.BlobKey, legacyPrefix) && old.BlobKey != key {
		if err := a.d.Blobs.Delete(r.Context(), old.BlobKey); err != nil && !errors.Is(err, blob.ErrNotFound) {
			a.d.Log.Warn("delete replaced file blob", "key", old.BlobKey, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, a.fileJSON(r, run, f))
	return nil
}

type fileJSON struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	UpdatedAt   string `json:"updated_at"`
	URL         string `json:"url"` // signed download link, valid for an hour
}

func (a *API) fileJSON(r *http.Request, run store.Run, f store.File) fileJSON {
	return fileJSON{Name: f.Name, Size: f.Size, SHA256: f.SHA256, ContentType: f.ContentType,
		UpdatedAt: fmtTime(f.UpdatedAt), URL: a.signedURL(run.PK, f.Name, a.now().Add(signedURLTTL))}
}

func (a *API) listFiles(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	fs, err := a.d.Store.ListFiles(r.Context(), run.PK)
	if err != nil {
		return err
	}
	out := make([]fileJSON, 0, len(fs))
	for _, f := range fs {
		out = append(out, a.fileJSON(r, run, f))
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": out})
	return nil
}

func (a *API) sign(runPK int64, name string, exp int64) string {
	m := hmac.New(sha256.New, a.d.SigningKey)
	fmt.Fprintf(m, "file\x00%d\x00%s\x00%d", runPK, name, exp)
	return hex.EncodeToString(m.Sum(nil))
}

func (a *API) signedURL(runPK int64, name string, exp time.Time) string {
	q := url.Values{}
	q.Set("run", strconv.FormatInt(runPK, 10))
	q.Set("name", name)
	q.Set("exp", strconv.FormatInt(exp.Unix(), 10))
	q.Set("sig", a.sign(runPK, name, exp.Unix()))
	return "/api/v1/files/download?" + q.Encode()
}

// download serves a file from a signed link: the link is the credential,
// so browsers and plain HTTP clients can fetch it.
func (a *API) download(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	runPK, err1 := strconv.ParseInt(q.Get("run"), 10, 64)
	exp, err2 := strconv.ParseInt(q.Get("exp"), 10, 64)
	name := q.Get("name")
	if err1 != nil || err2 != nil || name == "" {
		return badData("malformed download link: ask the files endpoint for a fresh one")
	}
	if !hmac.Equal([]byte(a.sign(runPK, name, exp)), []byte(q.Get("sig"))) {
		return errorf(http.StatusForbidden, CodeForbidden, "invalid download link signature")
	}
	if a.now().Unix() > exp {
		return errorf(http.StatusForbidden, CodeForbidden, "download link expired: ask the files endpoint for a fresh one")
	}
	f, err := a.d.Store.File(r.Context(), runPK, name)
	if err != nil {
		return err
	}
	return a.serveFile(w, r, f, "attachment")
}

// getFile serves a run file's content to the browser (API key or session
// cookie): inline, so the UI can show media in <img>, <video> or a
// sandboxed <iframe>.
func (a *API) getFile(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := checkFileName(name); err != nil {
		return err
	}
	f, err := a.d.Store.File(r.Context(), run.PK, name)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeNotFound, "run %s has no file %q", run.RunKey, name)
	}
	if err != nil {
		return err
	}
	return a.serveFile(w, r, f, "inline")
}

// immutableAge is how long a browser may keep a file whose name embeds
// its content digest without asking again.
const immutableAge = 365 * 24 * time.Hour

// namesDigest reports whether a file name embeds its content's SHA-256, in
// full or as the 20-hex-digit prefix wandb puts in media file names: then
// the name always means these bytes and may be cached as immutable.
func namesDigest(name, sum string) bool {
	return len(sum) == 2*sha256.Size && strings.Contains(strings.ToLower(name), sum[:20])
}

// mediaTypes covers the extensions media files get (docs/media.md) that Go's
// built-in table lacks, so that audio and video play the same whether or not
// the host has /etc/mime.types.
var mediaTypes = map[string]string{
	".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".flac": "audio/flac", ".m4a": "audio/mp4",
	".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime", ".bmp": "image/bmp",
	".txt": "text/plain; charset=utf-8", ".csv": "text/csv; charset=utf-8", ".md": "text/markdown; charset=utf-8",
}

// typeByName guesses a Content-Type from a file name's extension; "" when
// unknown (served as application/octet-stream).
func typeByName(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := mediaTypes[ext]; ok {
		return t
	}
	return mime.TypeByExtension(ext)
}

// servedType is the Content-Type a file is served with: the one recorded at
// upload when it parses, else application/octet-stream (never sniffed).
func servedType(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return "application/octet-stream"
	}
	if s := mime.FormatMediaType(mt, params); s != "" {
		return s
	}
	return "application/octet-stream"
}

// setUserContentHeaders marks a response as user content. Files are
// whatever a training script wrote, HTML and SVG included, served from
// Fluoro's own origin: the CSP sandbox gives such a document an opaque
// origin even when it is opened directly, so its scripts (allowed: plotly
// and bokeh exports need them) can neither read Fluoro's cookies and
// storage nor call its API as the viewer; nosniff stops browsers from
// running, say, a text/plain file as a script or a page; no-referrer keeps
// the file's URL (entity, project, run) from the CDNs such a page loads.
func setUserContentHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox allow-scripts")
	h.Set("Referrer-Policy", "no-referrer")
}

// serveFile writes a file's content with byte ranges and conditional
// requests (ETag = SHA-256) when the blob can seek. disposition is
// "inline" or "attachment".
func (a *API) serveFile(w http.ResponseWriter, r *http.Request, f store.File, disposition string) error {
	rc, err := a.d.Blobs.Get(r.Context(), f.BlobKey)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	setUserContentHeaders(h)
	h.Set("Content-Type", servedType(f.ContentType))
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": path.Base(f.Name)}))
	h.Set("ETag", `"`+f.SHA256+`"`)
	if namesDigest(f.Name, f.SHA256) {
		h.Set("Cache-Control", fmt.Sprintf("private, max-age=%d, immutable", int(immutableAge.Seconds())))
	} else {
		h.Set("Cache-Control", "private, no-cache") // revalidate: the name may get new content
	}
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", f.UpdatedAt, rs)
		return nil
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, `"`+f.SHA256+`"`) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, rc)
	}
	return nil
}
