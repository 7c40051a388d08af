package config

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
	if err := c.Cards.Validate(); err != nil {
		return stageErr(err)
	}
	for _, n := range names {
		if n == c.Cards.OffloadTo {
			return nil
		}
	}
	return errf("cards.offload_to", "no volume named %q", c.Cards.OffloadTo)
}
