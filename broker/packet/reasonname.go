package packet

import "strconv"

func reasonName(c ReasonCode) string {
	return "reason code 0x" + strconv.FormatUint(uint64(c), 16)
}
