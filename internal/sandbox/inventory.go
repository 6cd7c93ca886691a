package sandbox

import (
	"slices"
	"strconv"
	"strings"
)

// Number types as the Numbers API names them.
const (
	TypeMobile   = "mobile-lvn"
	TypeLandline = "landline"
	TypeTollFree = "landline-toll-free"
)

// inventoryBlock is a contiguous range of fictional numbers Vonage has for rent.
type inventoryBlock struct {
	country  string
	typ      string
	features []string
	cost     string // monthly rental in EUR
	first    int64
	count    int64
}

// inventoryBlocks holds only numbers reserved for drama and documentation:
// Ofcom's 07700 900xxx, 020 7946 0xxx and 0808 157 0xxx ranges and the
// North American 555-01xx range.
var inventoryBlocks = []inventoryBlock{
	{"GB", TypeMobile, []string{"VOICE", "SMS"}, "1.25", 447700900000, 1000},
	{"GB", TypeLandline, []string{"VOICE"}, "0.75", 442079460000, 100},
	{"GB", TypeTollFree, []string{"VOICE"}, "8.00", 448081570000, 100},
	{"US", TypeLandline, []string{"VOICE", "SMS"}, "0.90", 12025550100, 100},
}

// availableNumber is one number of the inventory.
type availableNumber struct {
	Country  string   `json:"country"`
	MSISDN   string   `json:"msisdn"`
	Type     string   `json:"type"`
	Cost     string   `json:"cost"`
	Features []string `json:"features"`
}

// inventory is the fixed, sorted list of numbers the sandbox rents out.
type inventory struct {
	numbers []availableNumber
	index   map[string]int
}

func newInventory() *inventory {
	inv := &inventory{index: make(map[string]int)}
	for _, b := range inventoryBlocks {
		for i := range b.count {
			inv.numbers = append(inv.numbers, availableNumber{
				Country:  b.country,
				MSISDN:   strconv.FormatInt(b.first+i, 10),
				Type:     b.typ,
				Cost:     b.cost,
				Features: b.features,
			})
		}
	}
	slices.SortFunc(inv.numbers, func(a, b availableNumber) int { return strings.Compare(a.MSISDN, b.MSISDN) })
	for i, n := range inv.numbers {
		inv.index[n.MSISDN] = i
	}
	return inv
}

func (inv *inventory) lookup(msisdn string) (availableNumber, bool) {
	i, ok := inv.index[msisdn]
	if !ok {
		return availableNumber{}, false
	}
	return inv.numbers[i], true
}

// numberFilter is what search and list requests may filter on.
type numberFilter struct {
	country  string
	typ      string
	features []string
	pattern  string
	strategy int // search_pattern: 0 starts with, 1 contains, 2 ends with
}

func (f numberFilter) match(country, msisdn, typ string, features []string) bool {
	if f.country != "" && country != f.country {
		return false
	}
	if f.typ != "" && typ != f.typ {
		return false
	}
	for _, want := range f.features {
		if !slices.Contains(features, want) {
			return false
		}
	}
	if f.pattern == "" {
		return true
	}
	switch f.strategy {
	case 1:
		return strings.Contains(msisdn, f.pattern)
	case 2:
		return strings.HasSuffix(msisdn, f.pattern)
	default:
		return strings.HasPrefix(msisdn, f.pattern)
	}
}

// page returns the index-th page (1-based) of size items.
func page[T any](items []T, size, index int) []T {
	start := (index - 1) * size
	if start >= len(items) {
		return nil
	}
	return items[start:min(start+size, len(items))]
}
