/*
 * portal_assets.c — the web app in src/portal/web/ embedded in the binary,
 * so `build/bsec portal` is self-contained: the assembler's .incbin pulls
 * each file in at build time (paths are relative to the project root,
 * where make runs; the Makefile makes this object depend on the files).
 * Adding an asset means one ASSET() line and one table entry here.
 */
#include "portal.h"

#include <string.h>

/* Defines hidden symbols NAME (the bytes) and NAME_end in .rodata. */
#define ASSET(sym, file)                                                              \
	__asm__(".pushsection .rodata\n"                                              \
		".balign 16\n"                                                        \
		".hidden " #sym "\n.hidden " #sym "_end\n"                            \
		#sym ":\n"                                                            \
		".incbin \"" file "\"\n"                                              \
		#sym "_end:\n"                                                        \
		".byte 0\n"                                                           \
		".popsection\n");                                                     \
	extern const uint8_t sym[] __attribute__((visibility("hidden")));              \
	extern const uint8_t sym##_end[] __attribute__((visibility("hidden")))

ASSET(asset_index_html, "src/portal/web/index.html");
ASSET(asset_app_css, "src/portal/web/app.css");
ASSET(asset_app_mjs, "src/portal/web/app.mjs");
ASSET(asset_bsec_mjs, "src/portal/web/bsec.mjs");
ASSET(asset_favicon_svg, "src/portal/web/favicon.svg");

/* type and length are filled in on first use */
static portal_asset_t assets[] = {
	{ "/index.html", NULL, asset_index_html, 0 },
	{ "/app.css", NULL, asset_app_css, 0 },
	{ "/app.mjs", NULL, asset_app_mjs, 0 },
	{ "/bsec.mjs", NULL, asset_bsec_mjs, 0 },
	{ "/favicon.svg", NULL, asset_favicon_svg, 0 },
};

static const uint8_t *const ends[] = {
	asset_index_html_end, asset_app_css_end, asset_app_mjs_end, asset_bsec_mjs_end,
	asset_favicon_svg_end,
};

static const struct {
	const char *ext, *type;
} MIME[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".json", "application/json" },
};

const char *portal_mime(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < ARRAY_LEN(MIME); i++) {
		size_t e = strlen(MIME[i].ext);
		if (n > e && !strcmp(name + n - e, MIME[i].ext))
			return MIME[i].type;
	}
	return "application/octet-stream";
}

const portal_asset_t *portal_asset(const char *path)
{
	if (!strcmp(path, "/"))
		path = "/index.html";
	for (size_t i = 0; i < ARRAY_LEN(assets); i++) {
		if (strcmp(assets[i].path, path))
			continue;
		/* the table is filled in by the loop thread only */
		if (!assets[i].type) {
			assets[i].len = (size_t)(ends[i] - assets[i].data);
			assets[i].type = portal_mime(assets[i].path);
		}
		return &assets[i];
	}
	return NULL;
}
