package scheduler

import "testing"

// FuzzParseWave: a wave file (or POST /api/v1/waves body) is parsed or
// refused with an error, never a panic.
func FuzzParseWave(f *testing.F) {
	f.Add([]byte("id: w\nsurvey: s\ntrigger: {touchpoint: purchase, delay: 2h}\nschedule: \"@every 1m\"\n"))
	f.Add([]byte("id: w\nsurvey: s\nsegment: {where: {store: \"SH-*\"}}\nschedule: \"CRON_TZ=Asia/Shanghai 0 10 1 * *\"\nquiet_hours: \"21:00-09:00\"\nfrequency_cap: 1 per 30d\nsample: 50%\n"))
	f.Add([]byte("a: &a [*a, *a, *a]\n"))
	f.Add([]byte("id: w\nsurvey: s\nschedule: \"* * * * * * *\"\nsample: 101%\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ParseWave("fuzz.yaml", data, func(id string) bool { return id == "s" })
		if err == nil && (w == nil || w.ID == "") {
			t.Fatalf("ParseWave accepted a wave without an id: %+v", w)
		}
	})
}
