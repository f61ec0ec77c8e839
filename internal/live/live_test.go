package live

import (
	"strings"
	"testing"
)

func TestResumeWithLastEventID(t *testing.T) {
	h := NewHub(8)
	s, _ := h.Subscribe("", nil)
	h.Publish(RunCreated, "e", "p", map[string]string{"run": "a"})
	first := <-s.C
	h.Publish(History, "e", "p", nil)
	h.Publish(History, "e", "p", nil)
	h.Cancel(s)

	_, backlog := h.Subscribe(first.ID, nil)
	if len(backlog) != 2 || backlog[0].Type != History {
		t.Fatalf("backlog after %s = %+v, want the 2 history events", first.ID, backlog)
	}
}

func TestResetWhenTooOldOrOtherEpoch(t *testing.T) {
	h := NewHub(4)
	s, _ := h.Subscribe("", nil)
	h.Publish(RunCreated, "e", "p", nil)
	old := (<-s.C).ID
	for i := 0; i < 10; i++ {
		h.Publish(History, "e", "p", nil)
	}
	for _, id := range []string{old, "deadbeef-1", "garbage"} {
		_, backlog := h.Subscribe(id, nil)
		if len(backlog) != 1 || backlog[0].Type != Reset {
			t.Errorf("Subscribe(%q) backlog = %+v, want one reset", id, backlog)
		}
	}
}

func TestFilterAndSlowSubscriber(t *testing.T) {
	h := NewHub(16)
	s, _ := h.Subscribe("", func(e Event) bool { return e.Project == "mine" })
	h.Publish(History, "e", "other", nil)
	h.Publish(History, "e", "mine", nil)
	if e := <-s.C; e.Project != "mine" {
		t.Fatalf("got event for %q", e.Project)
	}
	for i := 0; i < 2000; i++ {
		h.Publish(History, "e", "mine", nil)
	}
	n := 0
	for range s.C {
		n++
	}
	if n == 0 || n >= 2000 || h.Subscribers() != 0 {
		t.Errorf("slow subscriber got %d events and subscribers = %d; want cut off", n, h.Subscribers())
	}
	if !strings.Contains(Format(Event{ID: "x-1", Type: History}), "event: history\n") {
		t.Error("Format lacks the event line")
	}
}
