package sqlstore

import (
	"reflect"
	"testing"

	"gorm.io/gorm"
)

// bindPostgres renders GORM's placeholders as GORM does for PostgreSQL.
func TestBindPostgres(t *testing.T) {
	q, vars, err := bindPostgres("UPDATE t SET a = ?, b = ? WHERE s IN ? AND u IN ? AND v = ? AND w IN ? AND x = ?",
		[]any{1, gorm.Expr("b"), []string{"x", "y"}, []string{}, "z", []int64{7}, []byte("raw")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "UPDATE t SET a = $1, b = b WHERE s IN ($2,$3) AND u IN (NULL) AND v = $4 AND w IN ($5) AND x = $6"; q != want {
		t.Errorf("query\n got %s\nwant %s", q, want)
	}
	if want := []any{1, "x", "y", "z", int64(7), []byte("raw")}; !reflect.DeepEqual(vars, want) {
		t.Errorf("vars %v, want %v", vars, want)
	}
	for name, args := range map[string][]any{
		"too few values":          {1},
		"too many values":         {1, 2, 3},
		"an expression with vars": {1, gorm.Expr("x + ?", 2)},
	} {
		if _, _, err := bindPostgres("a = ? AND b = ?", args); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
