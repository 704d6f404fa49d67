/*
 * web/data.c - the data page a person can read: store_export's JSON (GDPR
 * art. 15) as an HTML page in the reader's language, every item with what
 * it is for and on what legal basis, the consent evidence, bounce days and
 * audit events in tables; and a button for the JSON itself (art. 20).
 *
 * Walks the JSON as it is rather than a copy of its layout: an item the
 * store adds later (as the consent evidence was) shows up here with its
 * own purpose and basis, in the store's English when this file has no
 * Norwegian for it. Everything from the JSON is escaped.
 *
 * Called by unsub.c's data access handler; writes nothing, logs nothing.
 */
#include "web_int.h"

#include <stdlib.h>
#include <string.h>

/* Words of the page's frame. */
static const struct {
	const char *title, *intro, *controller, *generated, *recipients, *source;
	const char *details, *item, *value, *purpose, *basis, *none, *yes, *no, *empty;
	const char *json_heading, *json_text, *json_button;
} words[LANG_COUNT] = {
	[LANG_EN] = {
		"The data we hold about you",
		"This is everything %1$s holds about you, what each item is for, and why we may hold it.",
		"Who holds it", "Made at", "Shared with", "Where it came from",
		"Your details", "Item", "What we hold", "What it is for", "Legal basis",
		"nothing", "yes", "no", "Nothing.",
		"Take a copy",
		"The same data as a file (JSON) that you can keep or give to another service.",
		"Download my data (JSON)",
	},
	[LANG_NB] = {
		"Opplysningene vi har om deg",
		"Dette er alt %1$s har lagret om deg, hva hver opplysning brukes til, og hvorfor vi kan ha den.",
		"Hvem som har dem", "Laget", "Delt med", "Hvor de kom fra",
		"Dine opplysninger", "Opplysning", "Hva vi har", "Hva den brukes til", "Rettslig grunnlag",
		"ingenting", "ja", "nei", "Ingenting.",
		"Ta en kopi",
		"De samme opplysningene som en fil (JSON) du kan ta vare på eller gi til en annen tjeneste.",
		"Last ned opplysningene mine (JSON)",
	},
};

/* Names of the JSON's members, for people; NULL nb: the English one. */
static const struct {
	const char *key, *en, *nb;
} labels[] = {
	{"id", "Our number for you", "Nummeret ditt hos oss"},
	{"email", "E-mail address", "E-postadresse"},
	{"name", "Name", "Navn"},
	{"state", "State", "Status"},
	{"legal_basis", "Legal basis", "Rettslig grunnlag"},
	{"enrolled", "Enrolled", "Meldt på"},
	{"last_purchase", "Last purchase", "Siste kjøp"},
	{"last_order", "Last order", "Siste ordre"},
	{"consent_date", "Consent given", "Samtykke gitt"},
	{"consent", "Your consent", "Samtykket ditt"},
	{"requested", "Asked for", "Bedt om"},
	{"confirmed", "Confirmed", "Bekreftet"},
	{"channel", "How you asked", "Hvordan du ba om det"},
	{"text", "The text you agreed to", "Teksten du sa ja til"},
	{"text_hash", "Fingerprint of that text", "Fingeravtrykk av teksten"},
	{"consent_text_hash", "Fingerprint of the text you agreed to", "Fingeravtrykk av teksten du sa ja til"},
	{"consent_text", "The text you agreed to", "Teksten du sa ja til"},
	{"consent_text_first_shown", "That text first shown", "Teksten først vist"},
	{"pending_signup", "Signup waiting for confirmation", "Påmelding som venter på bekreftelse"},
	{"language", "Language", "Språk"},
	{"expires", "The link expires", "Lenken går ut"},
	{"confirmation_mail_sent", "Confirmation mail sent", "Bekreftelse sendt"},
	{"confirmation_mail_attempts", "Attempts at the confirmation mail", "Forsøk på å sende bekreftelsen"},
	{"deliveries", "Newsletters sent to you", "Nyhetsbrev sendt til deg"},
	{"bounces", "Days your mail bounced", "Dager e-post til deg kom i retur"},
	{"suppression", "Block list", "Sperreliste"},
	{"listed", "On it", "Står på den"},
	{"audit", "What was done with your data", "Hva som er gjort med opplysningene dine"},
	{"mailing", "Newsletter", "Nyhetsbrev"},
	{"subject", "Subject", "Emne"},
	{"attempts", "Attempts", "Forsøk"},
	{"updated", "Last change", "Sist endret"},
	{"reply", "The mail server's answer", "Svaret fra e-posttjeneren"},
	{"day", "Day", "Dag"},
	{"status", "Status", "Status"},
	{"reason", "Reason", "Årsak"},
	{"at", "When", "Når"},
	{"event", "What", "Hva"},
	{"detail", "Detail", "Detalj"},
	{"source", "By", "Av"},
};

/* Norwegian for the store's purposes and bases, by their English start. */
static const struct {
	const char *en, *nb;
} phrases[] = {
	{"to send you the newsletter", "for å sende deg nyhetsbrevet"},
	{"to greet you by name", "for å hilse på deg med navn i nyhetsbrevet"},
	{"whether you receive the newsletter", "om du får nyhetsbrevet (begrenset: lagret, men ikke sendt til)"},
	{"why we may send you the newsletter", "hvorfor vi kan sende deg nyhetsbrevet"},
	{"when you were enrolled", "når du ble meldt på"},
	{"the soft opt-in lasts", "påmeldingen ved kjøp varer så lenge du er kunde: opplysningene slettes når det ikke kommer noe nytt kjøp innen oppbevaringstiden"},
	{"the purchase that enrolled you", "kjøpet som meldte deg på eller fornyet påmeldingen"},
	{"when you gave explicit consent", "når du ga uttrykkelig samtykke"},
	{"which newsletters were sent to you", "hvilke nyhetsbrev som er sendt til deg, for å sende hvert av dem én gang og håndtere returer"},
	{"days on which mail to you bounced", "dager da e-post til deg kom i retur av en midlertidig grunn: mange nok slike dager innen en periode betyr at adressen ikke virker lenger, og da slettes den"},
	{"so that a later purchase does not enrol you", "slik at et senere kjøp ikke melder deg på igjen etter at du har meldt deg av"},
	{"what was done with your data", "hva som er gjort med opplysningene dine og når (merket med en nøkkelbasert hash, ikke adressen din); sletter du opplysningene, slettes også disse, og bare et spor av at noe ble slettet, som ikke navngir noen, blir igjen"},
	{"GDPR art. 6(1)(a), consent", "GDPR art. 6 nr. 1 bokstav a, samtykke"},
	{"GDPR art. 6(1)(f), legitimate interest", "GDPR art. 6 nr. 1 bokstav f, berettiget interesse: markedsføring av egne, lignende varer og tjenester til kunder (markedsføringsloven § 15)"},
	{"GDPR art. 6(1)(c) and art. 5(2)", "GDPR art. 6 nr. 1 bokstav c og art. 5 nr. 2: en oversikt over hvordan opplysningene dine er behandlet, som vi må kunne vise"},
	{"GDPR art. 6(1)(f) and art. 5(1)(d)", "GDPR art. 6 nr. 1 bokstav f og art. 5 nr. 1 bokstav d: å holde listen riktig, slik at vi slutter å sende til en adresse som ikke virker"},
	{"GDPR art. 6(1)(f) and art. 21(3)", "GDPR art. 6 nr. 1 bokstav f og art. 21 nr. 3: for å respektere at du har reservert deg mot markedsføring, lagret som en nøkkelbasert hash, ikke som adressen din"},
	{"none: nothing is held", "ingen: ingenting er lagret"},
	{"none: your data is kept", "ingen: opplysningene dine ligger i en egen database og deles ikke med noen"},
	{"your purchases from us, or your own sign-up", "kjøpene dine hos oss, eller din egen påmelding"},
	{"to show that you asked for the newsletter", "for å kunne vise at du ba om nyhetsbrevet og bekreftet det (dobbel bekreftelse): når, hvordan, og nøyaktig hvilken tekst du sa ja til"},
	{"GDPR art. 7(1) and art. 6(1)(c)", "GDPR art. 7 nr. 1 og art. 6 nr. 1 bokstav c: vi må kunne vise samtykket ditt"},
	{"to send you one confirmation link", "for å sende deg én bekreftelseslenke; ingenting annet gjøres med den, og den slettes når lenken går ut hvis du ikke bekrefter"},
	{"GDPR art. 6(1)(b)", "GDPR art. 6 nr. 1 bokstav b: tiltak du har bedt om (du ba om å bli meldt på)"},
};

/* Norwegian for the store's words that stand alone as values (exact match). */
static const struct {
	const char *en, *nb;
} values[] = {
	{"active", "aktiv"},
	{"restricted", "begrenset: lagret, men ikke sendt til"},
	{"consent", "samtykke"},
	{"soft-opt-in", "kjøp (påmelding ved kjøp)"},
	{"web-form", "skjemaet på nettsiden"},
	{"api", "butikken (API)"},
};

static const char *
label(const char *key, enum web_lang l)
{
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (strcmp(labels[i].key, key) == 0)
			return l == LANG_NB ? labels[i].nb : labels[i].en;
	return key;
}

/* The store's English text in the reader's language, where we have it. */
static const char *
phrase(const char *en, enum web_lang l)
{
	if (l == LANG_EN || en == NULL)
		return en;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		if (strcmp(en, values[i].en) == 0)
			return values[i].nb;
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (strncmp(en, phrases[i].en, strlen(phrases[i].en)) == 0)
			return phrases[i].nb;
	return en;
}

/* A JSON value as text: strings as they are, numbers, yes/no, "nothing". */
static void
value_text(struct buf *b, const json_t *v, enum web_lang l)
{
	if (v == NULL || json_is_null(v))
		html_escape(b, words[l].none);
	else if (json_is_string(v))
		html_escape(b, phrase(json_string_value(v), l));
	else if (json_is_integer(v))
		buf_printf(b, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		buf_printf(b, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		html_escape(b, json_is_true(v) ? words[l].yes : words[l].no);
	else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);

		html_escape(b, s != NULL ? s : "");
		free(s);
	}
}

/* An item of the store's form: {"value", "purpose", "legal_basis"}. */
static bool
is_item(const json_t *v)
{
	return json_is_object(v) && json_object_get(v, "purpose") != NULL &&
	       json_object_get(v, "items") == NULL;
}

/* One row of the details table; nested objects become rows of their own. */
static void
detail_rows(struct buf *b, const char *prefix, const char *key, const json_t *v, enum web_lang l)
{
	const char *k;
	json_t *m;

	if (json_is_object(v) && !is_item(v)) {
		json_object_foreach((json_t *)v, k, m)
			detail_rows(b, label(key, l), k, m, l);
		return;
	}
	buf_adds(b, "<tr><th scope=\"row\">");
	if (prefix != NULL) {
		html_escape(b, prefix);
		buf_adds(b, ": ");
	}
	html_escape(b, label(key, l));
	buf_adds(b, "</th><td>");
	value_text(b, is_item(v) ? json_object_get(v, "value") : v, l);
	buf_adds(b, "</td><td>");
	if (is_item(v))
		value_text(b, json_object_get(v, "purpose"), l);
	buf_adds(b, "</td><td>");
	if (is_item(v))
		value_text(b, json_object_get(v, "legal_basis"), l);
	buf_adds(b, "</td></tr>\n");
}

static void
table_head(struct buf *b, const char *caption, const char *const cols[], size_t n)
{
	buf_adds(b, "<table>\n<caption>");
	html_escape(b, caption);
	buf_adds(b, "</caption>\n<thead><tr>");
	for (size_t i = 0; i < n; i++) {
		buf_adds(b, "<th scope=\"col\">");
		html_escape(b, cols[i]);
		buf_adds(b, "</th>");
	}
	buf_adds(b, "</tr></thead>\n<tbody>\n");
}

static void
details(struct buf *b, const json_t *sub, enum web_lang l)
{
	const char *cols[] = {words[l].item, words[l].value, words[l].purpose, words[l].basis};
	const char *k;
	json_t *v;

	buf_adds(b, "<h2>");
	html_escape(b, words[l].details);
	buf_adds(b, "</h2>\n");
	if (!json_is_object(sub)) {
		buf_adds(b, "<p>");
		html_escape(b, words[l].empty);
		buf_adds(b, "</p>\n");
		return;
	}
	table_head(b, words[l].details, cols, 4);
	json_object_foreach((json_t *)sub, k, v)
		detail_rows(b, NULL, k, v, l);
	buf_adds(b, "</tbody>\n</table>\n");
}

/* A section of the export: {"purpose", "legal_basis", "items": [...]} or plain members. */
static void
section(struct buf *b, const char *key, const json_t *o, enum web_lang l)
{
	json_t *items = json_object_get(o, "items"), *first, *v;
	const char *k;
	size_t i;

	buf_adds(b, "<h2>");
	html_escape(b, label(key, l));
	buf_adds(b, "</h2>\n");
	if ((v = json_object_get(o, "purpose")) != NULL) {
		buf_adds(b, "<p><strong>");
		html_escape(b, words[l].purpose);
		buf_adds(b, ":</strong> ");
		value_text(b, v, l);
		buf_adds(b, "</p>\n");
	}
	if ((v = json_object_get(o, "legal_basis")) != NULL) {
		buf_adds(b, "<p><strong>");
		html_escape(b, words[l].basis);
		buf_adds(b, ":</strong> ");
		value_text(b, v, l);
		buf_adds(b, "</p>\n");
	}
	if (!json_is_array(items)) {
		/* Plain members (the block list's "listed"), one row each. */
		const char *cols[] = {words[l].item, words[l].value};
		bool any = false;

		json_object_foreach((json_t *)o, k, v) {
			if (strcmp(k, "purpose") == 0 || strcmp(k, "legal_basis") == 0)
				continue;
			if (!any)
				table_head(b, label(key, l), cols, 2);
			any = true;
			buf_adds(b, "<tr><th scope=\"row\">");
			html_escape(b, label(k, l));
			buf_adds(b, "</th><td>");
			value_text(b, v, l);
			buf_adds(b, "</td></tr>\n");
		}
		if (any)
			buf_adds(b, "</tbody>\n</table>\n");
		return;
	}
	if (json_array_size(items) == 0 || !json_is_object(first = json_array_get(items, 0))) {
		buf_adds(b, "<p>");
		html_escape(b, words[l].empty);
		buf_adds(b, "</p>\n");
		return;
	}
	/* Columns: the first item's members; the store writes them all alike. */
	buf_adds(b, "<table>\n<caption>");
	html_escape(b, label(key, l));
	buf_adds(b, "</caption>\n<thead><tr>");
	json_object_foreach(first, k, v) {
		buf_adds(b, "<th scope=\"col\">");
		html_escape(b, label(k, l));
		buf_adds(b, "</th>");
	}
	buf_adds(b, "</tr></thead>\n<tbody>\n");
	json_array_foreach(items, i, v) {
		json_t *m;

		buf_adds(b, "<tr>");
		json_object_foreach(first, k, m) {
			buf_adds(b, "<td>");
			value_text(b, json_object_get(v, k), l);
			buf_adds(b, "</td>");
		}
		buf_adds(b, "</tr>\n");
	}
	buf_adds(b, "</tbody>\n</table>\n");
}

/* A top-level member that is one line of text: controller, recipients... */
static void
fact(struct buf *b, const char *name, const json_t *v, enum web_lang l)
{
	if (v == NULL)
		return;
	buf_adds(b, "<p><strong>");
	html_escape(b, name);
	buf_adds(b, ":</strong> ");
	value_text(b, v, l);
	buf_adds(b, "</p>\n");
}

char *
web_data_page(const json_t *export, enum web_lang l, const char *list, size_t *len)
{
	static const char *const facts[] = {"controller", "generated", "recipients", "source"};
	const char *k, *intro = words[l].intro, *pc;
	json_t *v;
	struct buf b;

	buf_init(&b);
	web_page_open(&b, l, words[l].title, list, true);
	buf_adds(&b, "<p>");
	pc = strstr(intro, "%1$s");
	buf_add(&b, intro, (size_t)(pc - intro));
	html_escape(&b, list);
	buf_adds(&b, pc + 4);
	buf_adds(&b, "</p>\n");
	fact(&b, words[l].controller, json_object_get(export, "controller"), l);
	fact(&b, words[l].generated, json_object_get(export, "generated"), l);
	fact(&b, words[l].recipients, json_object_get(export, "recipients"), l);
	fact(&b, words[l].source, json_object_get(export, "source"), l);
	details(&b, json_object_get(export, "subscriber"), l);
	json_object_foreach((json_t *)export, k, v) {
		bool known = strcmp(k, "subscriber") == 0;

		for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++)
			known |= strcmp(k, facts[i]) == 0;
		if (known)
			continue;
		if (json_is_object(v))
			section(&b, k, v, l);
		else
			fact(&b, label(k, l), v, l);
	}
	/* No action: posts to the page's own address, with format=json. */
	buf_adds(&b, "<hr>\n<h2>");
	html_escape(&b, words[l].json_heading);
	buf_adds(&b, "</h2>\n<p>");
	html_escape(&b, words[l].json_text);
	buf_adds(&b, "</p>\n<form method=\"post\">\n<input type=\"hidden\" name=\"format\" value=\"json\">\n"
		 "<button type=\"submit\" class=\"secondary\">");
	html_escape(&b, words[l].json_button);
	buf_adds(&b, "</button>\n</form>\n");
	web_page_close(&b);
	*len = b.len;
	return b.s;
}
