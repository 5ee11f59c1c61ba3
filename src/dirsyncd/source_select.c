/* source_select.c - picks the change source for a mode (source_select.h).
 * Only the root DSE's facts and the kinds already refused decide; it
 * never talks to a server. */
#include "source_select.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *mode;
	const struct source_ops *ops;
	unsigned bit;
} source_select_kinds[] = {
	{ "syncrepl", &source_syncrepl_ops, SOURCE_SELECT_SYNCREPL },
	{ "dirsync", &source_dirsync_ops, SOURCE_SELECT_DIRSYNC },
	{ "usn", &source_usn_ops, SOURCE_SELECT_USN },
	{ "timestamp", &source_timestamp_ops, SOURCE_SELECT_TIMESTAMP },
};

unsigned
source_select_bit(const struct source_ops *ops)
{
	for (size_t i = 0; ops != NULL && i < DS_ARRAY_SIZE(source_select_kinds); i++)
		if (source_select_kinds[i].ops == ops)
			return source_select_kinds[i].bit;
	return 0;
}

static const struct source_ops *
source_select_auto(const struct ldapconn_server_info *info, unsigned tried,
    char *why, size_t size)
{
	bool usn = info != NULL && (info->highest_usn[0] != '\0' ||
	    info->last_usn[0] != '\0');

	if (info != NULL && info->syncrepl && !(tried & SOURCE_SELECT_SYNCREPL)) {
		snprintf(why, size, "supportedControl has 1.3.6.1.4.1.4203.1.9.1.1 (RFC 4533 content synchronisation)");
		return &source_syncrepl_ops;
	}
	if (info != NULL && info->ad_dirsync && !(tried & SOURCE_SELECT_DIRSYNC)) {
		snprintf(why, size, "supportedControl has 1.2.840.113556.1.4.841 (DirSync)%s",
		    tried & SOURCE_SELECT_SYNCREPL ? " and syncrepl was refused" : "");
		return &source_dirsync_ops;
	}
	if (usn && !(tried & SOURCE_SELECT_USN)) {
		snprintf(why, size, "%s; the root DSE has %s",
		    info->ad_dirsync ? "DirSync is not allowed for the bind account"
		    : "no RFC 4533 or DirSync control",
		    info->highest_usn[0] != '\0' ? "highestCommittedUSN" : "lastusn (389-ds USN plug-in)");
		return &source_usn_ops;
	}
	if (!(tried & SOURCE_SELECT_TIMESTAMP)) {
		snprintf(why, size, "%s",
		    info == NULL ? "the root DSE could not be read; modifyTimestamp works everywhere"
		    : usn ? "syncrepl, DirSync and USN polling are refused; modifyTimestamp polling"
		    : "no RFC 4533 or DirSync control and no USN in the root DSE; modifyTimestamp polling");
		return &source_timestamp_ops;
	}
	snprintf(why, size, "every kind of change source was refused by this server");
	return NULL;
}

const struct source_ops *
source_select(const char *mode, const struct ldapconn_server_info *info,
    unsigned tried_mask, char *why, size_t why_size)
{
	if (why_size == 0)
		return NULL;
	why[0] = '\0';
	if (mode == NULL || strcmp(mode, "auto") == 0)
		return source_select_auto(info, tried_mask, why, why_size);
	for (size_t i = 0; i < DS_ARRAY_SIZE(source_select_kinds); i++) {
		if (strcmp(mode, source_select_kinds[i].mode) != 0)
			continue;
		if (tried_mask & source_select_kinds[i].bit) {
			snprintf(why, why_size, "mode %s is configured and the server refused it", mode);
			return NULL;
		}
		snprintf(why, why_size, "mode %s is configured", mode);
		return source_select_kinds[i].ops;
	}
	snprintf(why, why_size, "unknown mode '%s' (auto, syncrepl, dirsync, usn or timestamp)", mode);
	return NULL;
}
