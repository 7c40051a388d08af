package config

import "fmt"

// validateCards checks the cards: and fixity: sections; offload_to and
// fixity.volumes must name configured volumes.
func (c *Config) validateCards() error {
	var names []string
	for _, v := range c.Volumes {
		names = append(names, v.Name)
	}
	if err := c.Fixity.Validate(names); err != nil {
		return stageErr(err)
	}
	if c.Cards == nil {
		return nil
	}
	// c.Cards.Validate ran with the other sections (validateStages).
	known := func(v string) bool {
		for _, n := range names {
			if n == v {
				return true
			}
		}
		return false
	}
	for i, d := range c.Cards.Destinations {
		if !known(d.Volume) {
			return errf(fmt.Sprintf("cards.destinations[%d].volume", i), "no volume named %q", d.Volume)
		}
	}
	if c.Cards.OffloadTo != "" && !known(c.Cards.OffloadTo) {
		return errf("cards.offload_to", "no volume named %q", c.Cards.OffloadTo)
	}
	return nil
}
