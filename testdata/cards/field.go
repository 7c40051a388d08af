package cards

// FieldCard is a card as a camera or recorder of a kind Skeleton does not
// name writes it, with the layout daemon/cards.Detect must give it and the
// number of clips daemon/cards.Clips must find.
type FieldCard struct {
	Name   string
	Layout string // daemon/cards.Detect's name
	Clips  int
	Tree   Tree
}

// FieldCards are more real card trees: ARRI ProRes and ARRIRAW (HDE),
// Canon Cinema RAW Light, a RED magazine with a spanned and a short clip,
// Sony XAVC with spanned clips, a DJI drone, an Atomos recorder (files at
// the root), a Sound Devices/Zoom audio recorder (BWF), each with the
// empty folders its formatter leaves and NFC and NFD names side by side.
func FieldCards() []FieldCard {
	mk := func(files []string, empty ...string) Tree {
		t := Tree{Files: map[string]string{}, Empty: empty}
		for _, f := range files {
			t.Files[f] = "essence of " + f
		}
		return t
	}
	return []FieldCard{
		{"arri prores", "arri_mxf", 2, mk([]string{
			"A002R2EC/A002C001_260201_R2EC.mov", "A002R2EC/A002C002_260201_R2EC.mov",
		}, "A002R2EC/A002C003_260201_R2EC")},
		{"arri hde", "arri_mxf", 1, mk([]string{
			"A003R1AB/A003C001_260201_R1AB/A003C001_260201_R1AB.arx",
		})},
		{"canon cinema raw light", "canon_cinema", 1, mk([]string{
			"CONTENTS/CLIPS001/A001C001_260201AB_CANON/A001C001_260201AB_CANON.CRM",
			"CONTENTS/CLIPS001/A001C001_260201AB_CANON/A001C001_260201AB_CANON.XML",
			"CONTENTS/CLIPS001/INDEX.MIF",
		}, "CONTENTS/CLIPS001/A001C002_260201CD_CANON", "CONTENTS/GPS", "DCIM/100CANON")},
		{"red magazine", "red", 2, mk([]string{
			"B001_0201XY.RDM/B001_C001_0201AA.RDC/B001_C001_0201AA_001.R3D",
			"B001_0201XY.RDM/B001_C001_0201AA.RDC/B001_C001_0201AA_002.R3D",
			"B001_0201XY.RDM/B001_C001_0201AA.RDC/B001_C001_0201AA_003.R3D",
			"B001_0201XY.RDM/B001_C002_0201BB.RDC/B001_C002_0201BB_001.R3D",
			"B001_0201XY.RDM/B001_C002_0201BB.RDC/B001_C002_0201BB.RTN",
		})},
		{"sony xavc spanned", "sony_xavc", 2, mk([]string{
			"PRIVATE/M4ROOT/CLIP/C0001.MP4", "PRIVATE/M4ROOT/CLIP/C0001M01.XML",
			"PRIVATE/M4ROOT/CLIP/C0002.MP4", "PRIVATE/M4ROOT/CLIP/C0002M01.XML",
			"PRIVATE/M4ROOT/THMBNL/C0001T01.JPG", "PRIVATE/M4ROOT/MEDIAPRO.XML", "PRIVATE/M4ROOT/STATUS.BIN",
		}, "PRIVATE/M4ROOT/GENERAL/SONY", "PRIVATE/M4ROOT/SUB", "PRIVATE/M4ROOT/TAKE", "DCIM")},
		{"dji drone", "dcim", 2, mk([]string{
			"DCIM/100MEDIA/DJI_0001.MP4", "DCIM/100MEDIA/DJI_0001.SRT", "DCIM/100MEDIA/DJI_0001.LRF",
			"DCIM/100MEDIA/DJI_0002.JPG",
		}, "MISC/THM", "MISC/LOG")},
		{"atomos recorder", "unknown", 2, mk([]string{
			"ATOMOS_0001.mov", "ATOMOS_0002.mov", ".atomos/cache.bin",
		})},
		{"audio recorder", "unknown", 4, mk([]string{
			"260201_001.WAV", "260201_002.WAV", "FALSETAKES/260201_000.WAV", "SOUNDREPORT.CSV",
			"caf\u00e9 NFC.WAV", "cafe\u0301 NFD.txt",
		}, "TRASH", "FALSETAKES/EMPTY")},
	}
}
