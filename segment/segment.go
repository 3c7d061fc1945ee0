// Package segment splits customer comments into words for the reasons
// report: Chinese by dictionary-based word segmentation (go-ego/gse, pure
// Go, the simplified-Chinese dictionary embedded in the binary: nothing is
// fetched at run time), other scripts by letters and digits, lower-cased,
// without punctuation and common stop words.
package segment

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"

	"github.com/go-ego/gse"
)

// zhDictionary is gse's simplified-Chinese dictionary (data/dict/zh/s_1.txt
// of gse v0.80.3, from jieba; Apache-2.0, see dict/LICENSE). It is loaded
// from this copy, not through gse's LoadDictEmbed, which would link gse's
// Japanese and traditional-Chinese dictionaries (another 27 MB) into the
// binary too.
//
//go:embed dict/zh_s.txt
var zhDictionary string

// Segmenter cuts text into words. The dictionary is loaded on first use
// (about a second), so a cxbot that never asks for terms never pays for it.
type Segmenter struct {
	once sync.Once
	// cut is gse's Cut. Holding the method value rather than the
	// gse.Segmenter keeps gse's type out of this one, so the linker can
	// drop gse's own embedded dictionaries (reflection elsewhere in the
	// binary would otherwise keep every exported method of a type reachable
	// from an interface, and with them the dictionaries they load).
	cut func(text string, hmm ...bool) []string
	err error
}

// New returns a Segmenter; the dictionary loads on the first Words call.
func New() *Segmenter { return &Segmenter{} }

func (s *Segmenter) load() error {
	s.once.Do(func() {
		seg := &gse.Segmenter{SkipLog: true}
		s.err = seg.LoadDictStr(zhDictionary)
		s.cut = seg.Cut
	})
	return s.err
}

// Words returns the words of text worth counting, each once per call
// order kept, lower-cased; stop words, punctuation, numbers and single
// Latin letters are dropped.
func (s *Segmenter) Words(text string) ([]string, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, w := range s.cut(strings.ToLower(text), true) {
		w = strings.TrimSpace(w)
		if !countable(w) || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out, nil
}

// countable keeps words with a letter (a Han character counts), longer
// than one Latin letter, and not a stop word.
func countable(w string) bool {
	if w == "" || stopWords[w] {
		return false
	}
	letters, han := 0, false
	for _, r := range w {
		switch {
		case unicode.Is(unicode.Han, r):
			han = true
			letters++
		case unicode.IsLetter(r):
			letters++
		case unicode.IsDigit(r), r == '-', r == '\'':
		default:
			return false
		}
	}
	return han || letters > 1
}

// stopWords are words too common to say why: English function words and
// Chinese particles, pronouns and adverbs of degree.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the and or but if then so to of in on at for with by from as is are was were be been
		it its this that these those i me my we our you your he she they them their not no yes very too just
		have has had do does did can could would should will all any some more most much many also there here
		what when where which who why how than about into out up down over again only own same such
		的 了 是 我 你 他 她 它 们 我们 你们 他们 很 也 都 就 和 与 及 或 在 有 没 没有 不 吗 吧 呢 啊 哦 呀 嗯
		这 那 这个 那个 一个 个 还 又 太 非常 比较 真 真的 挺 好像 就是 但是 因为 所以 可以 觉得 感觉 还是 一下 一点 有点`) {
		m[w] = true
	}
	return m
}()
