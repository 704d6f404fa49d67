/*
 * web/page.c - the subscriber's pages, in Norwegian Bokmål and English.
 *
 * Pages are complete HTML documents with one inline style (allowed by its
 * hash in the Content-Security-Policy): no script, no cookie, no font, image
 * or anything else from any host. They work without JavaScript, at 320 px
 * wide and with a screen reader: one heading, plain paragraphs, real
 * buttons with their purpose in their text, a visible focus ring.
 *
 * Trusts: the list's name comes from the configuration and is escaped all
 * the same; the masked address and the access token are made by us.
 */
#include "web_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char style[] =
	"body{margin:0;font:1.125rem/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
	"color:#1b1b1b;background:#fff}"
	"main{max-width:36rem;margin:0 auto;padding:2rem 1rem}"
	"h1{font-size:1.6rem;line-height:1.25;margin:0 0 1rem}"
	"h2{font-size:1.2rem;margin:0 0 .5rem}"
	"p{margin:0 0 1rem}"
	"form{margin:1.25rem 0}"
	"button{font:inherit;font-weight:600;min-height:2.75rem;max-width:100%;padding:.6rem 1.2rem;"
	"border:2px solid #0b3d91;border-radius:.4rem;background:#0b3d91;color:#fff;cursor:pointer}"
	"button.secondary{background:#fff;color:#0b3d91}"
	"button:hover{background:#082c69;border-color:#082c69;color:#fff}"
	"button:focus,button:focus-visible{outline:3px solid #b34700;outline-offset:3px}"
	".addr{font-weight:700;overflow-wrap:anywhere}"
	"hr{border:0;border-top:1px solid #767676;margin:2rem 0}"
	"label{display:block;font-weight:600;margin:0 0 .25rem}"
	"input{font:inherit;box-sizing:border-box;width:100%;min-height:2.75rem;padding:.4rem .6rem;"
	"border:2px solid #595959;border-radius:.3rem}"
	"input:focus{outline:3px solid #b34700;outline-offset:2px}"
	"a{color:#0b3d91}"
	"a:focus,a:focus-visible{outline:3px solid #b34700;outline-offset:3px}"
	".hp{display:none}"
	".error{color:#a4000f;font-weight:600}"
	".consent{font-size:1rem;color:#3b3b3b}"
	"table{border-collapse:collapse;width:100%;margin:0 0 1.5rem;font-size:1rem}"
	"caption{text-align:left;font-weight:700;margin:0 0 .5rem}"
	"main.wide{max-width:60rem}"
	"th,td{border:1px solid #959595;padding:.4rem;text-align:left;vertical-align:top;"
	"overflow-wrap:break-word}"
	"th{background:#eef1f6}";

/* Text per page and language: the title, then paragraphs (%1$s: the list). */
struct text {
	const char *title;
	const char *para;	/* HTML, may hold %1$s (the list's name) */
};

static const struct text texts[PAGE_COUNT][LANG_COUNT] = {
	[PAGE_CONFIRM] = {
		[LANG_EN] = {"Unsubscribe",
			     "<p>When you unsubscribe, we delete your address and everything we hold "
			     "about you. We keep only a one-way fingerprint of the address, so that a "
			     "later purchase does not sign you up again.</p>"},
		[LANG_NB] = {"Meld deg av",
			     "<p>Når du melder deg av, sletter vi adressen din og alt vi har lagret om "
			     "deg. Vi beholder bare et enveis fingeravtrykk av adressen, slik at et "
			     "senere kjøp ikke melder deg på igjen.</p>"},
	},
	[PAGE_DONE] = {
		[LANG_EN] = {"You are unsubscribed",
			     "<p>You will get no more newsletters from %1$s. Your address and what we "
			     "held about you are deleted.</p>"},
		[LANG_NB] = {"Du er meldt av",
			     "<p>Du får ikke flere nyhetsbrev fra %1$s. Adressen din og det vi hadde "
			     "lagret om deg, er slettet.</p>"},
	},
	[PAGE_ALREADY] = {
		[LANG_EN] = {"You are unsubscribed",
			     "<p>This link belongs to a subscription that has ended: you get no "
			     "newsletters from %1$s, and we hold no address for it.</p>"},
		[LANG_NB] = {"Du er meldt av",
			     "<p>Denne lenken gjelder et abonnement som er avsluttet: du får ingen "
			     "nyhetsbrev fra %1$s, og vi har ingen adresse lagret for den.</p>"},
	},
	[PAGE_NO_DATA] = {
		[LANG_EN] = {"Nothing held",
			     "<p>The subscription of this link has ended, and %1$s holds no address "
			     "or name for it any more.</p>"},
		[LANG_NB] = {"Ingenting lagret",
			     "<p>Abonnementet denne lenken gjelder, er avsluttet, og %1$s har ikke "
			     "lenger noen adresse eller noe navn lagret for det.</p>"},
	},
	[PAGE_INVALID] = {
		[LANG_EN] = {"This link is not valid",
			     "<p>The link may have been cut short or changed on its way to you.</p>"
			     "<p>Open it again from the newsletter, or copy the whole link into the "
			     "address bar. If that does not help, reply to the newsletter and ask "
			     "to be unsubscribed: we will do it by hand.</p>"},
		[LANG_NB] = {"Lenken er ikke gyldig",
			     "<p>Lenken kan ha blitt kuttet av eller endret på veien til deg.</p>"
			     "<p>Åpne den på nytt fra nyhetsbrevet, eller kopier hele lenken inn i "
			     "adressefeltet. Hjelper ikke det, kan du svare på nyhetsbrevet og be om "
			     "å bli meldt av: da gjør vi det for hånd.</p>"},
	},
	[PAGE_NOT_FOUND] = {
		[LANG_EN] = {"Page not found",
			     "<p>There is no page at this address. To unsubscribe, use the link at "
			     "the bottom of a newsletter.</p>"},
		[LANG_NB] = {"Fant ikke siden",
			     "<p>Det finnes ingen side på denne adressen. For å melde deg av, bruk "
			     "lenken nederst i et nyhetsbrev.</p>"},
	},
	[PAGE_METHOD] = {
		[LANG_EN] = {"Not allowed",
			     "<p>This page cannot be used that way. Open the link from the newsletter "
			     "in a browser.</p>"},
		[LANG_NB] = {"Ikke tillatt",
			     "<p>Denne siden kan ikke brukes slik. Åpne lenken fra nyhetsbrevet i en "
			     "nettleser.</p>"},
	},
	[PAGE_TOO_LARGE] = {
		[LANG_EN] = {"Request too large",
			     "<p>The request was larger than this page accepts.</p>"},
		[LANG_NB] = {"Forespørselen er for stor",
			     "<p>Forespørselen var større enn denne siden tar imot.</p>"},
	},
	[PAGE_HEADERS] = {
		[LANG_EN] = {"Too many header fields",
			     "<p>The request had more header fields than this server accepts.</p>"},
		[LANG_NB] = {"For mange felt i hodet",
			     "<p>Forespørselen hadde flere felt i hodet enn denne tjeneren tar imot.</p>"},
	},
	[PAGE_UNAVAILABLE] = {
		[LANG_EN] = {"Please try again in a moment",
			     "<p>We could not do that just now. Nothing has been changed. Please try "
			     "again in a minute.</p>"},
		[LANG_NB] = {"Prøv igjen om litt",
			     "<p>Vi fikk ikke gjort det akkurat nå. Ingenting er endret. Prøv igjen "
			     "om et minutt.</p>"},
	},
};

/* The confirmation page's own words (they take the masked address). */
static const struct {
	const char *question;	/* %1$s list, %2$s masked address */
	const char *button;
	const char *data_heading;
	const char *data_text;
	const char *data_button;
} confirm[LANG_COUNT] = {
	[LANG_EN] = {
		"Do you want to unsubscribe <span class=\"addr\">%2$s</span> from the newsletter of %1$s?",
		"Unsubscribe",
		"Your data",
		"Before you decide, you can see everything we hold about you.",
		"See the data you hold about me",
	},
	[LANG_NB] = {
		"Vil du melde <span class=\"addr\">%2$s</span> av nyhetsbrevet fra %1$s?",
		"Meld meg av",
		"Dine opplysninger",
		"Før du bestemmer deg, kan du se alt vi har lagret om deg.",
		"Se opplysningene dere har om meg",
	},
};

static const char *const lang_tags[LANG_COUNT] = {[LANG_EN] = "en", [LANG_NB] = "nb"};

const char *
web_page_lang_tag(enum web_lang l)
{
	return lang_tags[l];
}

/* A primary language subtag we speak: Norwegian in any form reads Bokmål. */
static const struct {
	const char *tag;
	enum web_lang lang;
} lang_map[] = {
	{"en", LANG_EN}, {"nb", LANG_NB}, {"no", LANG_NB}, {"nn", LANG_NB},
};

enum web_lang
web_page_lang_code(const char *code)
{
	for (size_t i = 0; i < sizeof(lang_map) / sizeof(lang_map[0]); i++)
		if (strcasecmp(code, lang_map[i].tag) == 0)
			return lang_map[i].lang;
	return LANG_EN;
}

/* The q value of one Accept-Language item's parameters, in thousandths. */
static int
qvalue(const char *p, const char *end)
{
	while (p < end) {
		while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
			p++;
		if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			int q = 0, scale = 1000;

			p += 2;
			if (p < end && *p == '1')
				return 1000;
			if (p < end && *p == '0') {
				p++;
				if (p < end && *p == '.')
					for (p++; p < end && *p >= '0' && *p <= '9' && scale > 1; p++) {
						scale /= 10;
						q += (*p - '0') * scale;
					}
			}
			return q;
		}
		while (p < end && *p != ';')
			p++;
	}
	return 1000;
}

enum web_lang
web_page_lang(const char *h, enum web_lang fallback)
{
	enum web_lang best = fallback;
	int best_q = 0;

	if (h == NULL)
		return fallback;
	while (*h) {
		const char *item = h, *end = strchr(h, ','), *tag_end;
		char tag[9];
		size_t n;
		int q;

		if (end == NULL)
			end = h + strlen(h);
		while (item < end && (*item == ' ' || *item == '\t'))
			item++;
		tag_end = item;
		while (tag_end < end && *tag_end != '-' && *tag_end != ';' && *tag_end != ' ')
			tag_end++;
		n = (size_t)(tag_end - item);
		q = qvalue(tag_end, end);
		if (n > 0 && n < sizeof(tag) && q > best_q) {
			memcpy(tag, item, n);
			tag[n] = '\0';
			if (strcmp(tag, "*") == 0) {
				best = fallback;
				best_q = q;
			} else {
				for (size_t i = 0; i < sizeof(lang_map) / sizeof(lang_map[0]); i++)
					if (strcasecmp(tag, lang_map[i].tag) == 0) {
						best = lang_map[i].lang;
						best_q = q;
						break;
					}
			}
		}
		h = *end ? end + 1 : end;
	}
	return best;
}

/* Expands %1$s (the list) and %2$s (the address) in @fmt, both escaped. */
static void
add_text(struct buf *b, const char *fmt, const char *list, const char *masked)
{
	const char *p = fmt, *pc;

	while ((pc = strchr(p, '%')) != NULL) {
		buf_add(b, p, (size_t)(pc - p));
		if ((pc[1] == '1' || pc[1] == '2') && pc[2] == '$' && pc[3] == 's') {
			html_escape(b, pc[1] == '1' ? list : (masked ? masked : ""));
			p = pc + 4;
		} else {
			buf_addc(b, '%');
			p = pc + 1;
		}
	}
	buf_adds(b, p);
}

/* Room for a page at once: no reallocation while it is written. */
#define PAGE_SIZE_HINT 4096

void
web_page_open(struct buf *b, enum web_lang l, const char *title, const char *list, bool wide)
{
	/* buf_adds only: this is the hot path of the server (no printf). */
	buf_reserve(b, PAGE_SIZE_HINT);
	buf_adds(b, "<!DOCTYPE html>\n<html lang=\"");
	buf_adds(b, lang_tags[l]);
	buf_adds(b, "\">\n<head>\n<meta charset=\"utf-8\">\n"
		 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		 "<meta name=\"referrer\" content=\"no-referrer\">\n<title>");
	html_escape(b, title);
	buf_adds(b, " – ");
	html_escape(b, list);
	buf_adds(b, "</title>\n<style>");
	buf_add(b, style, sizeof(style) - 1);
	buf_adds(b, wide ? "</style>\n</head>\n<body>\n<main class=\"wide\">\n<h1>"
			 : "</style>\n</head>\n<body>\n<main>\n<h1>");
	html_escape(b, title);
	buf_adds(b, "</h1>\n");
}

void
web_page_close(struct buf *b)
{
	buf_adds(b, "</main>\n</body>\n</html>\n");
}

char *
web_page_render(enum web_page_kind kind, enum web_lang l, const struct web_page_args *a, size_t *len)
{
	const struct text *t = &texts[kind][l];
	const char *list = a && a->list ? a->list : "";
	struct buf b;

	buf_init(&b);
	web_page_open(&b, l, t->title, list, false);
	if (kind == PAGE_CONFIRM) {
		buf_adds(&b, "<p>");
		add_text(&b, confirm[l].question, list, a->masked);
		buf_adds(&b, "</p>\n");
		add_text(&b, t->para, list, NULL);
		/* No action: the form posts to the page's own address. */
		buf_adds(&b, "\n<form method=\"post\">\n<button type=\"submit\" name=\"List-Unsubscribe\" "
			 "value=\"One-Click\">");
		html_escape(&b, confirm[l].button);
		buf_adds(&b, "</button>\n</form>\n<hr>\n<h2>");
		html_escape(&b, confirm[l].data_heading);
		buf_adds(&b, "</h2>\n<p>");
		html_escape(&b, confirm[l].data_text);
		buf_adds(&b, "</p>\n<form method=\"post\" action=\"../a/");
		html_escape(&b, a->access);
		buf_adds(&b, "\">\n<button type=\"submit\" class=\"secondary\">");
		html_escape(&b, confirm[l].data_button);
		buf_adds(&b, "</button>\n</form>\n");
	} else {
		add_text(&b, t->para, list, NULL);
		buf_addc(&b, '\n');
	}
	web_page_close(&b);
	*len = b.len;
	return b.s;
}

/*
 * Pages made once when the server starts. Every page but the confirmation
 * depends on the kind, the language and the list's name alone, and is
 * served from here as it is; the confirmation page is kept with a mark
 * where the masked address goes and one where the access token goes, so a
 * page view copies three pieces around them. web_page_render stays the one
 * place that writes HTML: the pieces are its output.
 */
#define MARK_MASKED "\x01"
#define MARK_ACCESS "\x02"

void
web_page_cache_init(struct web_page_cache *pc, const char *list)
{
	struct web_page_args none = {.list = list};
	struct web_page_args marks = {.list = list, .masked = MARK_MASKED, .access = MARK_ACCESS};

	/* The signup pages are made later, if at all (web_page_cache_signup). */
	memset(pc->signup, 0, sizeof(pc->signup));
	for (int k = 0; k < PAGE_COUNT; k++)
		for (int l = 0; l < LANG_COUNT; l++) {
			struct web_page_piece *p = &pc->fixed[k][l];

			p->s = k == PAGE_CONFIRM ? NULL : web_page_render(k, l, &none, &p->len);
		}
	for (int l = 0; l < LANG_COUNT; l++) {
		size_t len;
		char *t = web_page_render(PAGE_CONFIRM, l, &marks, &len);
		char *m = strstr(t, MARK_MASKED), *a = strstr(t, MARK_ACCESS);

		/* The list's name never holds a mark: config.c refuses control characters. */
		if (m == NULL || a == NULL || a < m || strchr(m + 1, MARK_MASKED[0]) != NULL ||
		    strchr(a + 1, MARK_ACCESS[0]) != NULL)
			fatal("page cache: the confirmation page has no single place for its values");
		pc->confirm[l].s = t;
		pc->confirm[l].len = len;
		pc->confirm[l].masked_at = (size_t)(m - t);
		pc->confirm[l].access_at = (size_t)(a - t);
	}
}

void
web_page_cache_free(struct web_page_cache *pc)
{
	for (int k = 0; k < PAGE_COUNT; k++)
		for (int l = 0; l < LANG_COUNT; l++)
			free(pc->fixed[k][l].s);
	for (int l = 0; l < LANG_COUNT; l++)
		free(pc->confirm[l].s);
	for (int k = 0; k < SPAGE_COUNT; k++)
		for (int l = 0; l < LANG_COUNT; l++)
			free(pc->signup[k][l].s);
	memset(pc, 0, sizeof(*pc));
}

const char *
web_page_cached(const struct web_page_cache *pc, enum web_page_kind kind, enum web_lang l, size_t *len)
{
	*len = pc->fixed[kind][l].len;
	return pc->fixed[kind][l].s;
}

char *
web_page_confirm(const struct web_page_cache *pc, enum web_lang l, const char *masked, const char *access,
		 size_t *len)
{
	const struct web_page_template *t = &pc->confirm[l];
	struct buf b;

	buf_init(&b);
	/* Room for the worst case at once: every character escaped (6 bytes). */
	buf_reserve(&b, t->len + 6 * (strlen(masked) + strlen(access)));
	buf_add(&b, t->s, t->masked_at);
	html_escape(&b, masked);
	buf_add(&b, t->s + t->masked_at + 1, t->access_at - t->masked_at - 1);
	html_escape(&b, access);
	buf_add(&b, t->s + t->access_at + 1, t->len - t->access_at - 1);
	*len = b.len;
	return b.s;
}

int
web_page_csp(char *out, size_t outlen)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
					   sodium_base64_VARIANT_ORIGINAL)];

	crypto_hash_sha256(h, (const unsigned char *)style, strlen(style));
	sodium_bin2base64(b64, sizeof(b64), h, sizeof(h), sodium_base64_VARIANT_ORIGINAL);
	return fmt(out, outlen, "default-src 'none'; style-src 'sha256-%s'; form-action 'self'; "
		   "frame-ancestors 'none'; base-uri 'none'", b64);
}

/* --- the signup pages (double opt-in) --- */

static const struct {
	const char *title;
	const char *para;	/* HTML, may hold %1$s (the list's name) */
} signup_texts[SPAGE_COUNT][LANG_COUNT] = {
	[SPAGE_FORM] = {
		[LANG_EN] = {"Subscribe to the newsletter",
			     "<p>Get the newsletter of %1$s by e-mail. We send you a message with a "
			     "link first: nothing is signed up until you click it.</p>"},
		[LANG_NB] = {"Meld deg på nyhetsbrevet",
			     "<p>Få nyhetsbrevet fra %1$s på e-post. Først sender vi deg en melding "
			     "med en lenke: ingenting blir meldt på før du klikker på den.</p>"},
	},
	[SPAGE_CHECK_MAIL] = {
		[LANG_EN] = {"Check your mailbox",
			     "<p>If the address can receive mail, a message from %1$s with a link "
			     "to confirm is on its way to it.</p>"
			     "<p>Open the message and click the link to start the newsletter. Until "
			     "you do, you are not signed up; if you never do, the address is "
			     "deleted when the link expires.</p>"
			     "<p>No message within a few minutes? Look in the spam folder.</p>"},
		[LANG_NB] = {"Sjekk innboksen din",
			     "<p>Kan adressen ta imot e-post, er en melding fra %1$s med en lenke "
			     "du kan bekrefte med, på vei dit.</p>"
			     "<p>Åpne meldingen og klikk på lenken for å få nyhetsbrevet. Før du "
			     "gjør det, er du ikke meldt på; gjør du det aldri, slettes adressen "
			     "når lenken går ut.</p>"
			     "<p>Ingen melding etter noen minutter? Se i søppelpostmappen.</p>"},
	},
	[SPAGE_CONFIRM] = {
		[LANG_EN] = {"Confirm your subscription",
			     "<p>Do you want to receive the newsletter of %1$s? Click the button to "
			     "confirm. Every issue has a link to unsubscribe, which deletes your "
			     "address.</p>"},
		[LANG_NB] = {"Bekreft påmeldingen",
			     "<p>Vil du ha nyhetsbrevet fra %1$s? Klikk på knappen for å bekrefte. "
			     "Hvert nyhetsbrev har en lenke for å melde seg av, som sletter "
			     "adressen din.</p>"},
	},
	[SPAGE_DONE] = {
		[LANG_EN] = {"You are subscribed",
			     "<p>Thank you: you will receive the newsletter of %1$s. Every issue "
			     "has a link to unsubscribe; this is yours too.</p>"},
		[LANG_NB] = {"Du er meldt på",
			     "<p>Takk: du får nyhetsbrevet fra %1$s. Hvert nyhetsbrev har en lenke "
			     "for å melde seg av; her er din også.</p>"},
	},
	[SPAGE_INVALID] = {
		[LANG_EN] = {"This confirmation link is not valid",
			     "<p>The link may have expired (it works for a limited time), or it "
			     "was cut short or changed on its way to you. Nothing was signed "
			     "up.</p>"
			     "<p>To get the newsletter, <a href=\"../subscribe\">sign up again</a> "
			     "and use the link in the new message.</p>"},
		[LANG_NB] = {"Bekreftelseslenken er ikke gyldig",
			     "<p>Lenken kan ha gått ut (den virker en begrenset tid), eller den ble "
			     "kuttet av eller endret på veien til deg. Ingenting ble meldt på.</p>"
			     "<p>For å få nyhetsbrevet, <a href=\"../subscribe\">meld deg på "
			     "igjen</a> og bruk lenken i den nye meldingen.</p>"},
	},
	[SPAGE_TOO_MANY] = {
		[LANG_EN] = {"Please try again later",
			     "<p>We have had too many signups from your network within the hour. "
			     "Nothing was recorded. Please try again in an hour.</p>"},
		[LANG_NB] = {"Prøv igjen senere",
			     "<p>Vi har fått for mange påmeldinger fra nettverket ditt den siste "
			     "timen. Ingenting ble lagret. Prøv igjen om en time.</p>"},
	},
};

/* The form's own words. */
static const struct {
	const char *email, *name, *honeypot, *button;
	const char *unsubscribe, *data_heading, *data_text, *data_button;
	const char *confirm_button;
} signup_words[LANG_COUNT] = {
	[LANG_EN] = {"E-mail address", "Name (optional)", "Leave this field empty", "Subscribe",
		     "Unsubscribe", "Your data",
		     "You can see everything we hold about you, and why.",
		     "See the data you hold about me", "Yes, subscribe me"},
	[LANG_NB] = {"E-postadresse", "Navn (valgfritt)", "La dette feltet stå tomt", "Meld meg på",
		     "Meld meg av", "Dine opplysninger",
		     "Du kan se alt vi har lagret om deg, og hvorfor.",
		     "Se opplysningene dere har om meg", "Ja, meld meg på"},
};

/* The signup form, with what was typed and why it was refused, if it was. */
static void
signup_form(struct buf *b, enum web_lang l, const struct web_signup_args *a)
{
	bool bad = a->reason != NULL;

	if (bad) {
		buf_adds(b, "<p class=\"error\" id=\"email-error\" role=\"alert\">");
		html_escape(b, a->reason);
		buf_adds(b, "</p>\n");
	}
	/* No action: the form posts to the page's own address. */
	buf_adds(b, "<form method=\"post\">\n<p><label for=\"email\">");
	html_escape(b, signup_words[l].email);
	buf_adds(b, "</label>\n<input id=\"email\" name=\"email\" type=\"email\" required "
		 "maxlength=\"254\" autocomplete=\"email\" spellcheck=\"false\"");
	if (bad)
		buf_adds(b, " aria-invalid=\"true\" aria-describedby=\"email-error\"");
	if (a->email != NULL && *a->email) {
		buf_adds(b, " value=\"");
		html_escape(b, a->email);
		buf_addc(b, '"');
	}
	buf_adds(b, "></p>\n<p><label for=\"name\">");
	html_escape(b, signup_words[l].name);
	buf_adds(b, "</label>\n<input id=\"name\" name=\"name\" type=\"text\" maxlength=\"200\" "
		 "autocomplete=\"name\"");
	if (a->name != NULL && *a->name) {
		buf_adds(b, " value=\"");
		html_escape(b, a->name);
		buf_addc(b, '"');
	}
	/*
	 * The honeypot: a field people neither see nor hear (display:none,
	 * hidden, aria-hidden, out of the tab order) that form-filling robots
	 * fill. Its label is for the robots' benefit only.
	 */
	buf_adds(b, "></p>\n<div class=\"hp\" hidden aria-hidden=\"true\"><label for=\"website\">");
	html_escape(b, signup_words[l].honeypot);
	buf_adds(b, "</label><input id=\"website\" name=\"" SIGNUP_HONEYPOT "\" type=\"text\" "
		 "tabindex=\"-1\" autocomplete=\"off\"></div>\n<p class=\"consent\">");
	html_escape(b, a->consent ? a->consent : "");
	buf_adds(b, "</p>\n<button type=\"submit\">");
	html_escape(b, signup_words[l].button);
	buf_adds(b, "</button>\n</form>\n");
}

/* The confirmed page: the subscriber's own unsubscribe link and data button. */
static void
signup_done(struct buf *b, enum web_lang l, const struct web_signup_args *a)
{
	buf_adds(b, "<p><a href=\"../u/");
	html_escape(b, a->unsub ? a->unsub : "");
	buf_adds(b, "\">");
	html_escape(b, signup_words[l].unsubscribe);
	buf_adds(b, "</a></p>\n<hr>\n<h2>");
	html_escape(b, signup_words[l].data_heading);
	buf_adds(b, "</h2>\n<p>");
	html_escape(b, signup_words[l].data_text);
	buf_adds(b, "</p>\n<form method=\"post\" action=\"../a/");
	html_escape(b, a->access ? a->access : "");
	buf_adds(b, "\">\n<button type=\"submit\" class=\"secondary\">");
	html_escape(b, signup_words[l].data_button);
	buf_adds(b, "</button>\n</form>\n");
}

char *
web_page_signup(enum web_signup_page kind, enum web_lang l, const struct web_signup_args *a,
		size_t *len)
{
	const char *list = a->list ? a->list : "";
	struct buf b;

	buf_init(&b);
	web_page_open(&b, l, signup_texts[kind][l].title, list, false);
	add_text(&b, signup_texts[kind][l].para, list, NULL);
	buf_addc(&b, '\n');
	if (kind == SPAGE_FORM) {
		signup_form(&b, l, a);
	} else if (kind == SPAGE_CONFIRM) {
		/* No action: the button posts to the link's own address. */
		buf_adds(&b, "<form method=\"post\">\n<button type=\"submit\">");
		html_escape(&b, signup_words[l].confirm_button);
		buf_adds(&b, "</button>\n</form>\n");
	} else if (kind == SPAGE_DONE) {
		signup_done(&b, l, a);
	}
	web_page_close(&b);
	*len = b.len;
	return b.s;
}

void
web_page_cache_signup(struct web_page_cache *pc, const char *list, const char *const consent[LANG_COUNT])
{
	for (int k = 0; k < SPAGE_COUNT; k++)
		for (int l = 0; l < LANG_COUNT; l++) {
			struct web_signup_args a = {.list = list, .consent = consent[l]};
			struct web_page_piece *p = &pc->signup[k][l];

			/* The confirmed page names its subscriber: made for each. */
			p->s = k == SPAGE_DONE ? NULL : web_page_signup(k, l, &a, &p->len);
		}
}

const char *
web_page_signup_cached(const struct web_page_cache *pc, enum web_signup_page kind, enum web_lang l,
		       size_t *len)
{
	*len = pc->signup[kind][l].len;
	return pc->signup[kind][l].s;
}
