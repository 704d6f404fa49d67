/*
 * bounce/rules.c - the phrases of bounce texts and what each says of the
 * recipient's address: one table, read in rank order.
 *
 * The table is data: a row per phrase, {rank, phrase, verdict, reason}.
 * Ranks decide when several match (lowest rank wins):
 *   RANK_NOT_BOUNCE  a challenge-response or an automatic reply: never a
 *               bounce, whatever else the text says (BOUNCE_IGNORE);
 *   RANK_TEMP   the report says the failure is temporary or late;
 *   RANK_BLOCK  policy, spam, reputation, full or disabled mailboxes: they
 *               say nothing about whether the address exists, so they
 *               outrank the phrases of a dead address ("550 5.1.1 blocked
 *               as spam" is soft);
 *   RANK_STAGE  the refusal came before any recipient was given (at MAIL
 *               FROM): about the sender, whatever a phrase after it says
 *               is gone ("553 <our domain> does not exist"); a block
 *               row's reason, more telling, outranks it;
 *   RANK_GONE   the address or its domain is gone: the only hard rows;
 *   RANK_WEAK   generic words of a refusal ("rejected", "denied"), soft,
 *               which yield to a status code that says the address is gone.
 * The rows of RANK_GONE whose reason is a domain ("unknown-domain",
 * "no-mail-domain") are soft when the lines around them name another
 * domain and not the recipient's (verdict.c): "host not found" may be
 * about a relay or the sender. Naming none, they are about the recipient
 * whose lines they are.
 *
 * RANK_WEAK holds RFC 5321's generic 550 text ("Requested action not
 * taken: mailbox unavailable"), which a policy refusal gives as much as an
 * unknown user. A Status that only maps a remote's bare reply code (a
 * relay's "5.1.1 User unknown" for any 550) does not make such words hard
 * (verdict.c): the remote's reply decides.
 *
 * The status table (bounce_rules_code) is the same kind of data for RFC
 * 3463 codes: a row per code class with what it can mean of the recipient.
 * A hard verdict always comes from a RANK_GONE row, a BOUNCE_CODE_GONE row
 * or a provider's own code of a missing recipient, and never when a row of
 * the report says the code or the text is about the sender, the message,
 * a policy, a rate, or a full or disabled mailbox. Each row has a name
 * that --explain shows ("phrase #N", "status 5.7.x"). No row is written
 * for one message: each names a kind of failure in general words.
 *
 * Trusts nothing: the text is lower-cased by the caller, and matching is a
 * plain substring search, so no input can make it slow or wrong in a way
 * that deletes anyone: only RANK_GONE rows can give a hard verdict.
 *
 * Origin: the rows marked as Sisimai's, the MTA table (bounce_rules_mta)
 * and Orange's codes (bounce_rules_provider_gone) are taken verbatim, as
 * data, from Sisimai 4.25.15 (Debian libsisimai-perl: Sisimai/Reason/, Sisimai/Lhost/,
 * Sisimai/Rhost/FrancePTT.pm), Copyright (C) 2014
 * azumakuniyuki and contributors, BSD 2-Clause License: "Redistribution and
 * use in source and binary forms, with or without modification, are
 * permitted provided that [...] redistributions of source code must retain
 * the above copyright notice, this list of conditions and the following
 * disclaimer"; the full text is in tests/bounce-corpus/LICENSE. Sisimai
 * checks the blocking reasons (blocked, filtered, spam, policy) before the
 * address ones; RANK_BLOCK above RANK_GONE does the same.
 */
#include "bounce.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

enum rank { RANK_NOT_BOUNCE, RANK_TEMP, RANK_BLOCK, RANK_STAGE, RANK_GONE, RANK_WEAK };

static const char *const rank_names[] = {
	[RANK_NOT_BOUNCE] = "not a bounce", [RANK_TEMP] = "temporary", [RANK_BLOCK] = "block",
	[RANK_STAGE] = "stage", [RANK_GONE] = "gone", [RANK_WEAK] = "weak",
};

static const struct bounce_rule {
	enum rank rank;
	const char *phrase;		/* lower case */
	enum bounce_action action;
	const char *reason;
	const char *why;
	bool strong;			/* needs no status code or RCPT context */
} rules[] = {
	/* Not a bounce: a challenge-response system asks a person to prove
	 * they are one, or the recipient's automatic reply. */
	{RANK_NOT_BOUNCE, "confirm you are human", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to confirm: not a bounce", false},
	{RANK_NOT_BOUNCE, "confirm that you are human", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to confirm: not a bounce", false},
	{RANK_NOT_BOUNCE, "prove you are human", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to confirm: not a bounce", false},
	{RANK_NOT_BOUNCE, "verify you are human", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to confirm: not a bounce", false},
	{RANK_NOT_BOUNCE, "verify that you are human", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to confirm: not a bounce", false},
	{RANK_NOT_BOUNCE, "not a robot", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to confirm: not a bounce", false},
	{RANK_NOT_BOUNCE, "challenge-response", BOUNCE_IGNORE, "challenge", "a challenge-response message: not a bounce", false},
	{RANK_NOT_BOUNCE, "challenge/response", BOUNCE_IGNORE, "challenge", "a challenge-response message: not a bounce", false},
	{RANK_NOT_BOUNCE, "verify your email to", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to verify: not a bounce", false},
	{RANK_NOT_BOUNCE, "verify your e-mail to", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to verify: not a bounce", false},
	{RANK_NOT_BOUNCE, "verify your email address to", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to verify: not a bounce", false},
	{RANK_NOT_BOUNCE, "confirm your email to", BOUNCE_IGNORE, "challenge", "a challenge-response message asks the sender to confirm: not a bounce", false},
	/* A challenge-response system holds mail from senders it has not
	 * approved until they ask to be: the mail is waiting, not refused. */
	{RANK_NOT_BOUNCE, "sender not pre-approved", BOUNCE_IGNORE, "challenge", "a challenge-response system holds mail from senders it has not approved: not a bounce", false},
	{RANK_NOT_BOUNCE, "has been waitlisted", BOUNCE_IGNORE, "challenge", "a challenge-response system holds the message until the sender asks to be approved: not a bounce", false},
	/* Exim's notice that a message is frozen in its queue (to the
	 * postmaster): not delivered yet, not failed. */
	{RANK_NOT_BOUNCE, "has been frozen", BOUNCE_IGNORE, "delayed", "the message is held in the queue (frozen): not a failure", false},
	{RANK_NOT_BOUNCE, "have yet to be delivered", BOUNCE_IGNORE, "delayed", "the message is still in the queue: not a failure", false},
	/* Exim's delay warning ("Warning: message ... delayed 48 hours"):
	 * the reply it quotes is only why the message waits. */
	{RANK_NOT_BOUNCE, "has not yet been delivered", BOUNCE_IGNORE, "delayed", "the message is still in the queue (a delay warning): not a failure", false},
	{RANK_NOT_BOUNCE, "delivery attempts will continue", BOUNCE_IGNORE, "delayed", "the sender's server keeps trying (a delay warning): not a failure", false},
	{RANK_NOT_BOUNCE, "out of office", BOUNCE_IGNORE, "auto-reply", "an automatic reply (out of office) is not a bounce", false},
	{RANK_NOT_BOUNCE, "out of the office", BOUNCE_IGNORE, "auto-reply", "an automatic reply (out of office) is not a bounce", false},
	{RANK_NOT_BOUNCE, "automatic reply", BOUNCE_IGNORE, "auto-reply", "an automatic reply is not a bounce", false},
	{RANK_NOT_BOUNCE, "auto-reply", BOUNCE_IGNORE, "auto-reply", "an automatic reply is not a bounce", false},
	{RANK_NOT_BOUNCE, "autoreply", BOUNCE_IGNORE, "auto-reply", "an automatic reply is not a bounce", false},

	/* The report itself says it is temporary or late. */
	{RANK_TEMP, "delivery temporarily suspended", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "retry time not reached", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "retry timeout exceeded", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "was not delivered within", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "could not be delivered for", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "could not deliver for", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "could not send message for past", BOUNCE_SOFT, "expired", "a delay warning", false},
	{RANK_TEMP, "message expired", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "delivery expired", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "delivery time expired", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "has been delayed", BOUNCE_SOFT, "expired", "a delay warning", false},
	{RANK_TEMP, "delivery is delayed", BOUNCE_SOFT, "expired", "a delay warning", false},
	{RANK_TEMP, "delivery has been delayed", BOUNCE_SOFT, "expired", "a delay warning", false},
	{RANK_TEMP, "will continue trying", BOUNCE_SOFT, "expired", "a delay warning", false},
	{RANK_TEMP, "will keep trying", BOUNCE_SOFT, "expired", "a delay warning", false},
	{RANK_TEMP, "will be retried", BOUNCE_SOFT, "expired", "a delay warning", false},
	{RANK_TEMP, "queue lifetime", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "too long in the queue", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},
	{RANK_TEMP, "retry limit", BOUNCE_SOFT, "expired", "delivery was given up after retries", false},

	/* Policy, spam, reputation: nothing about the address. */
	{RANK_BLOCK, "spam", BOUNCE_SOFT, "spam", "the receiver took the message for spam", false},
	{RANK_BLOCK, "junk mail", BOUNCE_SOFT, "spam", "the receiver took the message for spam", false},
	{RANK_BLOCK, "unsolicited", BOUNCE_SOFT, "spam", "the receiver took the message for spam", false},
	/* A sending service that did not try the address because its own
	 * suppression list holds it: says nothing new of the address. */
	{RANK_BLOCK, "suppression list", BOUNCE_SOFT, "suppressed", "the sending service did not try the address (its suppression list holds it)", false},
	{RANK_BLOCK, "address suppressed", BOUNCE_SOFT, "suppressed", "the sending service did not try the address (its suppression list holds it)", false},
	{RANK_BLOCK, "previously bounced address", BOUNCE_SOFT, "suppressed", "the sending service did not try the address (it bounced before)", false},
	{RANK_BLOCK, "blacklist", BOUNCE_SOFT, "blocked", "the sender is on a block list", false},
	{RANK_BLOCK, "blocklist", BOUNCE_SOFT, "blocked", "the sender is on a block list", false},
	{RANK_BLOCK, "black list", BOUNCE_SOFT, "blocked", "the sender is on a block list", false},
	{RANK_BLOCK, "block list", BOUNCE_SOFT, "blocked", "the sender is on a block list", false},
	{RANK_BLOCK, "blocked", BOUNCE_SOFT, "blocked", "the receiver blocks the sender", false},
	{RANK_BLOCK, "spamhaus", BOUNCE_SOFT, "blocked", "the sender is on a block list", false},
	{RANK_BLOCK, "rbl", BOUNCE_SOFT, "blocked", "the sender is on a block list", false},
	{RANK_BLOCK, "dnsbl", BOUNCE_SOFT, "blocked", "the sender is on a block list", false},
	{RANK_BLOCK, "reputation", BOUNCE_SOFT, "reputation", "the sender's reputation", false},
	{RANK_BLOCK, "banned", BOUNCE_SOFT, "blocked", "the receiver blocks the sender", false},
	{RANK_BLOCK, "virus", BOUNCE_SOFT, "virus", "the receiver found a virus", false},
	{RANK_BLOCK, "malware", BOUNCE_SOFT, "virus", "the receiver found a virus", false},
	{RANK_BLOCK, "dmarc", BOUNCE_SOFT, "auth", "sender authentication (DMARC) failed", false},
	{RANK_BLOCK, "spf", BOUNCE_SOFT, "auth", "sender authentication (SPF) failed", false},
	{RANK_BLOCK, "dkim", BOUNCE_SOFT, "auth", "sender authentication (DKIM) failed", false},
	{RANK_BLOCK, "sender authentication", BOUNCE_SOFT, "auth", "sender authentication failed", false},
	{RANK_BLOCK, "not authenticated", BOUNCE_SOFT, "auth", "sender authentication failed", false},
	{RANK_BLOCK, "authentication required", BOUNCE_SOFT, "auth", "sender authentication failed", false},
	{RANK_BLOCK, "reverse dns", BOUNCE_SOFT, "ptr", "the sending host has no reverse DNS", false},
	{RANK_BLOCK, "reverse lookup", BOUNCE_SOFT, "ptr", "the sending host has no reverse DNS", false},
	{RANK_BLOCK, "ptr record", BOUNCE_SOFT, "ptr", "the sending host has no reverse DNS", false},
	{RANK_BLOCK, "rdns", BOUNCE_SOFT, "ptr", "the sending host has no reverse DNS", false},
	{RANK_BLOCK, "cannot find your hostname", BOUNCE_SOFT, "ptr", "the sending host has no reverse DNS", false},
	{RANK_BLOCK, "cannot resolve your", BOUNCE_SOFT, "ptr", "the sending host has no reverse DNS", false},
	{RANK_BLOCK, "greylist", BOUNCE_SOFT, "greylisted", "greylisting", false},
	{RANK_BLOCK, "graylist", BOUNCE_SOFT, "greylisted", "greylisting", false},
	{RANK_BLOCK, "rate limit", BOUNCE_SOFT, "rate", "a rate limit", false},
	{RANK_BLOCK, "too many", BOUNCE_SOFT, "rate", "a rate or size limit", false},
	{RANK_BLOCK, "try again later", BOUNCE_SOFT, "temporary", "the receiver asks to try again later", false},
	{RANK_BLOCK, "relay access denied", BOUNCE_SOFT, "relaying", "relaying refused", false},
	{RANK_BLOCK, "relaying denied", BOUNCE_SOFT, "relaying", "relaying refused", false},
	{RANK_BLOCK, "relay not permitted", BOUNCE_SOFT, "relaying", "relaying refused", false},
	{RANK_BLOCK, "not permitted to relay", BOUNCE_SOFT, "relaying", "relaying refused", false},
	{RANK_BLOCK, "we do not relay", BOUNCE_SOFT, "relaying", "relaying refused", false},
	{RANK_BLOCK, "unable to relay", BOUNCE_SOFT, "relaying", "relaying refused", false},
	{RANK_BLOCK, "relaying to", BOUNCE_SOFT, "relaying", "relaying refused", false},
	{RANK_BLOCK, "message size exceeds", BOUNCE_SOFT, "too-large", "the message is too large", false},
	{RANK_BLOCK, "message too large", BOUNCE_SOFT, "too-large", "the message is too large", false},
	{RANK_BLOCK, "message is too large", BOUNCE_SOFT, "too-large", "the message is too large", false},
	{RANK_BLOCK, "message too big", BOUNCE_SOFT, "too-large", "the message is too large", false},
	{RANK_BLOCK, "size limit", BOUNCE_SOFT, "too-large", "the message is too large", false},
	{RANK_BLOCK, "exceeds the maximum size", BOUNCE_SOFT, "too-large", "the message is too large", false},
	{RANK_BLOCK, "mailbox full", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "mailbox is full", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "mailbox has exceeded", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "mail box full", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "mailfolder is full", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "box is full", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "quota", BOUNCE_SOFT, "mailbox-full", "the mailbox is over its quota", false},
	{RANK_BLOCK, "insufficient storage", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "not enough storage", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "exceeded storage", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "out of storage", BOUNCE_SOFT, "mailbox-full", "the mailbox is full", false},
	{RANK_BLOCK, "disk space", BOUNCE_SOFT, "system-full", "the receiving system is full", false},
	{RANK_BLOCK, "disk full", BOUNCE_SOFT, "system-full", "the receiving system is full", false},
	{RANK_BLOCK, "no space left", BOUNCE_SOFT, "system-full", "the receiving system is full", false},
	{RANK_BLOCK, "disabled", BOUNCE_SOFT, "suspended", "the mailbox is disabled (it may come back)", false},
	{RANK_BLOCK, "suspended", BOUNCE_SOFT, "suspended", "the mailbox is suspended (it may come back)", false},
	{RANK_BLOCK, "deactivated", BOUNCE_SOFT, "suspended", "the mailbox is deactivated (it may come back)", false},
	{RANK_BLOCK, "inactive", BOUNCE_SOFT, "suspended", "the mailbox is inactive (it may come back)", false},
	{RANK_BLOCK, "not active", BOUNCE_SOFT, "suspended", "the mailbox is inactive (it may come back)", false},
	{RANK_BLOCK, "recipient preferences", BOUNCE_SOFT, "filtered", "the recipient's own filter", false},
	/* A receiver's own list of recipients it refuses: policy, not a
	 * dead address, whatever code it gives. */
	{RANK_BLOCK, "badrcptto", BOUNCE_SOFT, "policy", "the receiver's local list of refused recipients (policy)", false},
	{RANK_BLOCK, "bad rcpt to", BOUNCE_SOFT, "policy", "the receiver's local list of refused recipients (policy)", false},
	{RANK_BLOCK, "policy", BOUNCE_SOFT, "policy", "the receiver's policy (given with a code of a dead address, after DATA, it is about the content)", false},
	{RANK_BLOCK, "by policy", BOUNCE_SOFT, "policy", "the receiver refuses the recipient by policy", false},
	{RANK_BLOCK, "policy reasons", BOUNCE_SOFT, "policy", "the receiver refuses the recipient by policy", false},
	{RANK_BLOCK, "due to policy", BOUNCE_SOFT, "policy", "the receiver refuses the recipient by policy", false},
	{RANK_BLOCK, "administrative prohibition", BOUNCE_SOFT, "policy", "the receiver refuses the recipient by policy", false},
	{RANK_BLOCK, "prohibited", BOUNCE_SOFT, "policy", "the receiver refuses the recipient by policy", false},
	/* A rate limit worded as a refusal of the mailbox (some providers
	 * give it as 5.2.1). */
	{RANK_BLOCK, "at a rate", BOUNCE_SOFT, "rate", "the receiver limits the rate of incoming mail", false},
	{RANK_BLOCK, "rate that prevents", BOUNCE_SOFT, "rate", "the receiver limits the rate of incoming mail", false},
	{RANK_BLOCK, "rate limited", BOUNCE_SOFT, "rate", "a rate limit", false},
	{RANK_BLOCK, "ratelimit", BOUNCE_SOFT, "rate", "a rate limit", false},
	/* Content the receiver refused after it was sent. */
	{RANK_BLOCK, "content rejected", BOUNCE_SOFT, "content", "the receiver refused the content", false},
	{RANK_BLOCK, "message content", BOUNCE_SOFT, "content", "the receiver refused the content", false},
	{RANK_BLOCK, "content filter", BOUNCE_SOFT, "content", "the receiver's content filter", false},
	{RANK_BLOCK, "temporarily", BOUNCE_SOFT, "temporary", "the receiver says it is temporary", false},
	{RANK_BLOCK, "sender address", BOUNCE_SOFT, "sender", "the receiver refused our sender address", false},
	{RANK_BLOCK, "domain of sender", BOUNCE_SOFT, "sender", "the receiver refused our sender address", false},
	/* A callout to our own address failed: whatever user it says is
	 * unknown there is the sender, not the recipient. */
	{RANK_BLOCK, "sender verify", BOUNCE_SOFT, "sender", "the receiver could not verify our sender address", false},
	{RANK_BLOCK, "sender verification", BOUNCE_SOFT, "sender", "the receiver could not verify our sender address", false},
	{RANK_BLOCK, "sender domain", BOUNCE_SOFT, "sender", "the receiver refused our sender address", false},

	{RANK_BLOCK, "procmail", BOUNCE_SOFT, "mailer", "the receiver's local delivery program failed", false},
	{RANK_BLOCK, "mailer error", BOUNCE_SOFT, "mailer", "the receiver's local delivery program failed", false},
	{RANK_BLOCK, "command died", BOUNCE_SOFT, "mailer", "the receiver's local delivery program failed", false},

	/* A refusal at MAIL FROM, before any recipient was given: Exim's
	 * "SMTP error from remote mail server after MAIL FROM:", Postfix's
	 * "(in reply to MAIL FROM command)". */
	{RANK_STAGE, "after mail from", BOUNCE_SOFT, "sender", "the receiver refused our sender (at MAIL FROM), not the recipient", false},
	{RANK_STAGE, "in reply to mail from", BOUNCE_SOFT, "sender", "the receiver refused our sender (at MAIL FROM), not the recipient", false},

	/* The address or its domain is gone: the only hard rows. */
	{RANK_GONE, "user unknown", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", false},
	{RANK_GONE, "unknown user", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", false},
	{RANK_GONE, "no such user", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", false},
	{RANK_GONE, "no such mailbox", BOUNCE_HARD, "unknown-user", "the receiver has no such mailbox", false},
	{RANK_GONE, "no such recipient", BOUNCE_HARD, "unknown-user", "the receiver does not know the recipient", false},
	{RANK_GONE, "no such address", BOUNCE_HARD, "unknown-user", "the receiver does not know the address", false},
	{RANK_GONE, "no such person", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", false},
	{RANK_GONE, "no such local user", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", false},
	{RANK_GONE, "no mailbox here by that name", BOUNCE_HARD, "unknown-user", "the receiver has no such mailbox", true},
	{RANK_GONE, "unknown recipient", BOUNCE_HARD, "unknown-user", "the receiver does not know the recipient", false},
	{RANK_GONE, "recipient unknown", BOUNCE_HARD, "unknown-user", "the receiver does not know the recipient", false},
	{RANK_GONE, "recipient not found", BOUNCE_HARD, "unknown-user", "the receiver does not know the recipient", false},
	{RANK_GONE, "recipientnotfound", BOUNCE_HARD, "unknown-user", "the receiver does not know the recipient", true},
	/* an error code of one word ("err.nosuchuser"), as RecipientNotFound */
	{RANK_GONE, "nosuchuser", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", true},
	{RANK_GONE, "address unknown", BOUNCE_HARD, "unknown-user", "the receiver does not know the address", false},
	{RANK_GONE, "unknown address", BOUNCE_HARD, "unknown-user", "the receiver does not know the address", false},
	{RANK_GONE, "unknown e-mail address", BOUNCE_HARD, "unknown-user", "the receiver does not know the address", false},
	{RANK_GONE, "unknown email address", BOUNCE_HARD, "unknown-user", "the receiver does not know the address", false},
	{RANK_GONE, "addressee unknown", BOUNCE_HARD, "unknown-user", "the receiver does not know the address", false},
	{RANK_GONE, "unknown local part", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", false},
	{RANK_GONE, "unknown local-part", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", false},
	{RANK_GONE, "user not found", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", false},
	{RANK_GONE, "user does not exist", BOUNCE_HARD, "unknown-user", "the user does not exist", true},
	{RANK_GONE, "mailbox does not exist", BOUNCE_HARD, "unknown-user", "the mailbox does not exist", true},
	{RANK_GONE, "mailbox not found", BOUNCE_HARD, "unknown-user", "the mailbox does not exist", false},
	{RANK_GONE, "address does not exist", BOUNCE_HARD, "unknown-user", "the address does not exist", true},
	{RANK_GONE, "account does not exist", BOUNCE_HARD, "unknown-user", "the account does not exist", true},
	{RANK_GONE, "recipient does not exist", BOUNCE_HARD, "unknown-user", "the recipient does not exist", true},
	{RANK_GONE, "domain does not exist", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "does not exist", BOUNCE_HARD, "unknown-user", "the address does not exist", false},
	{RANK_GONE, "doesn't exist", BOUNCE_HARD, "unknown-user", "the address does not exist", false},
	{RANK_GONE, "invalid recipient", BOUNCE_HARD, "unknown-user", "the receiver calls the recipient invalid", false},
	{RANK_GONE, "invalid mailbox", BOUNCE_HARD, "unknown-user", "the receiver calls the mailbox invalid", false},
	{RANK_GONE, "not a valid mailbox", BOUNCE_HARD, "unknown-user", "the receiver calls the mailbox invalid", false},
	{RANK_GONE, "no mailbox", BOUNCE_HARD, "unknown-user", "the receiver has no such mailbox", false},
	{RANK_GONE, "no mail box", BOUNCE_HARD, "unknown-user", "the receiver has no such mailbox", false},
	{RANK_GONE, "no such account", BOUNCE_HARD, "unknown-user", "the receiver has no such account", false},
	{RANK_GONE, "no account by that name", BOUNCE_HARD, "unknown-user", "the receiver has no account of that name", false},
	{RANK_GONE, "is not a known user", BOUNCE_HARD, "unknown-user", "the receiver does not know the user", false},
	{RANK_GONE, "bad destination mailbox", BOUNCE_HARD, "unknown-user", "the receiver has no such mailbox", true},
	{RANK_GONE, "recipient name is not recognized", BOUNCE_HARD, "unknown-user", "the receiver does not know the recipient", true},
	{RANK_GONE, "invalid address", BOUNCE_HARD, "unknown-user", "the receiver calls the address invalid", false},
	{RANK_GONE, "couldn't find a mail exchanger", BOUNCE_HARD, "unknown-domain", "the domain has no mail server", false},
	{RANK_GONE, "invalid domain", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "not listed in public name & address book", BOUNCE_HARD, "unknown-user", "the receiver (Lotus Notes) does not know the user", true},
	{RANK_GONE, "not listed in domino directory", BOUNCE_HARD, "unknown-user", "the receiver (Domino) does not know the user", true},
	{RANK_GONE, "\xe3\x83\x87\xe3\x82\xa3\xe3\x83\xac\xe3\x82\xaf\xe3\x83\x88\xe3\x83\xaa\xe3\x81\xae\xe3\x83\xaa\xe3\x82\xb9\xe3\x83\x88\xe3\x81\xab\xe3\x81\x82\xe3\x82\x8a\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93",
	 BOUNCE_HARD, "unknown-user", "the receiver (Lotus Notes, in Japanese: not in the directory) does not know the user", true},
	{RANK_GONE, "invalid final delivery userid", BOUNCE_HARD, "unknown-user", "the receiver (IMail) does not know the user", true},
	{RANK_GONE, "user not exist", BOUNCE_HARD, "unknown-user", "the user does not exist", false},
	{RANK_GONE, "illegal host/domain name", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "no mx record found", BOUNCE_HARD, "unknown-domain", "the domain has no mail server", false},
	/* Sisimai's own phrases (Sisimai/Reason/UserUnknown.pm, HostUnknown.pm,
	 * NotAccept.pm, Lhost/GSuite.pm, Lhost/Outlook.pm; BSD-2-Clause, see
	 * the header): each names the address or its domain as gone. */
	{RANK_GONE, "5.1.0 address rejected.", BOUNCE_HARD, "unknown-user", "the receiver rejects the address (5.1.0)", true},
	{RANK_GONE, "delivery error: dd this user doesn't have a", BOUNCE_HARD, "unknown-user", "the receiver (Yahoo) has no account for the user", true},
	{RANK_GONE, "address couldn't be found", BOUNCE_HARD, "unknown-user", "the receiver (Google) has no such address", true},
	{RANK_GONE, "no valid recipients for this mm", BOUNCE_HARD, "unknown-user", "the receiver (Verizon) has no such subscriber", true},
	{RANK_GONE, "domino \xe3\x83\x87\xe3\x82\xa3\xe3\x83\xac\xe3\x82\xaf\xe3\x83\x88\xe3\x83\xaa\xe3\x81\xab\xe3\x81\xaf\xe8\xa6\x8b\xe3\x81\xa4\xe3\x81\x8b\xe3\x82\x8a\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93",
	 BOUNCE_HARD, "unknown-user", "the receiver (Domino, in Japanese: not found in the directory) does not know the user", true},
	{RANK_GONE, "non r\xc3\xa9pertori\xc3\xa9 dans l'annuaire domino", BOUNCE_HARD, "unknown-user", "the receiver (Domino, in French) does not know the user", true},
	{RANK_GONE, "domain is not reachable", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "domain must exist", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "host or domain name not found", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "mail domain mentioned in email address is unknown", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "recipient address rejected: unknown domain name", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "host does not accept mail", BOUNCE_HARD, "no-mail-domain", "the domain accepts no mail", false},
	{RANK_GONE, "not accepting network messages", BOUNCE_HARD, "no-mail-domain", "the domain accepts no mail", false},
	{RANK_GONE, "host unknown", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "unknown host", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "host not found", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	/* qmail-remote's words when the name it looked up does not exist
	 * in the DNS ("Sorry, I couldn't find any host by that name." or
	 * "... any host named NAME."). The name looked up is the
	 * recipient's domain unless the lines name another (verdict.c). */
	{RANK_GONE, "couldn't find any host", BOUNCE_HARD, "unknown-domain", "the domain does not exist (no host by that name in the DNS)", false},
	{RANK_GONE, "could not find any host", BOUNCE_HARD, "unknown-domain", "the domain does not exist (no host by that name in the DNS)", false},
	/* The resolver's own words for a name that does not exist (EAI_NONAME):
	 * like "host not found", about the recipient only when the lines
	 * name its domain or no other. */
	{RANK_GONE, "name or service not known", BOUNCE_HARD, "unknown-domain", "the domain does not exist (the resolver does not know the name)", false},
	{RANK_GONE, "domain not found", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "no such domain", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "domain name not found", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "bad destination system", BOUNCE_HARD, "unknown-domain", "the domain does not exist", false},
	{RANK_GONE, "null mx", BOUNCE_HARD, "no-mail-domain", "the domain accepts no mail", false},
	{RANK_GONE, "does not accept mail", BOUNCE_HARD, "no-mail-domain", "the domain accepts no mail", false},

	/* Generic words of a refusal: soft, but a status code of a dead
	 * address outranks them. */
	{RANK_WEAK, "rejected", BOUNCE_SOFT, "rejected", "the receiver rejected the message", false},
	/* RFC 5321 4.2.2 gives "Requested action not taken: mailbox
	 * unavailable" as the text of any 550, a policy refusal as much as an
	 * unknown user: only a status code that says gone makes it hard. */
	{RANK_WEAK, "mailbox unavailable", BOUNCE_SOFT, "unavailable", "the mailbox is unavailable (RFC 5321's generic 550 text: not said to be gone)", false},
	/* Exim's "Unrouteable address": no router took the address. An
	 * unknown domain, an unknown user and a router's own trouble all
	 * give it, and it does not say which: soft, unless a status code
	 * says the address is gone. */
	{RANK_WEAK, "unrouteable address", BOUNCE_SOFT, "unroutable", "no router of the receiver took the address (it does not say the address is gone)", false},
	{RANK_WEAK, "unroutable address", BOUNCE_SOFT, "unroutable", "no router of the receiver took the address (it does not say the address is gone)", false},
	{RANK_WEAK, "denied", BOUNCE_SOFT, "rejected", "the receiver refused the message", false},
	{RANK_WEAK, "refused", BOUNCE_SOFT, "rejected", "the receiver refused the message", false},
	{RANK_WEAK, "not allowed", BOUNCE_SOFT, "rejected", "the receiver refused the message", false},
	{RANK_WEAK, "timed out", BOUNCE_SOFT, "network", "a network failure", false},
	{RANK_WEAK, "timeout", BOUNCE_SOFT, "network", "a network failure", false},
	{RANK_WEAK, "connection", BOUNCE_SOFT, "network", "a network failure", false},
};
#define NRULES (sizeof(rules) / sizeof(rules[0]))

/*
 * The table indexed by a hash of the first three bytes of each phrase
 * (every phrase has at least three), so that one pass over the text
 * tries only the phrases that can start at each position: mostly none.
 * Two bytes were too few: "no", "re", "un" start a tenth of the rows and
 * most words of a text. Rows whose keys share a hash share a bucket, in
 * table order; the whole phrase is compared.
 * Built once (bounce_init), read-only after.
 */
#define IDX_BITS 16
#define IDX_KEYS (1u << IDX_BITS)
static struct {
	unsigned short start[IDX_KEYS + 1];	/* rows of key k: order[start[k] .. start[k + 1]) */
	unsigned short order[NRULES];	/* row numbers, in table order within a key */
	unsigned char len[NRULES];
	uint64_t any[IDX_KEYS / 64];	/* a bit per key that starts a row or a banner: 8 kB */
	uint64_t banner[IDX_KEYS / 64];	/* a bit per key that starts a banner */
} idx;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static unsigned
idx_key(const char *p)
{
	uint32_t v = (uint32_t)(unsigned char)p[0] << 16 | (uint32_t)(unsigned char)p[1] << 8 |
		     (unsigned char)p[2];

	return (v * 2654435761u) >> (32 - IDX_BITS);
}

static void idx_banners(void);

static void
idx_build(void)
{
	unsigned short count[IDX_KEYS] = {0}, n = 0;

	for (size_t i = 0; i < NRULES; i++) {
		if (strlen(rules[i].phrase) < 3)
			fatal("bounce: phrase row %zu \"%s\" is shorter than 3 bytes (bounce/rules.c)", i + 1,
			      rules[i].phrase);
		count[idx_key(rules[i].phrase)]++;
	}
	for (unsigned k = 0; k < IDX_KEYS; k++) {
		idx.start[k] = n;
		n = (unsigned short)(n + count[k]);
	}
	idx.start[IDX_KEYS] = n;
	memset(count, 0, sizeof(count));
	for (size_t i = 0; i < NRULES; i++) {
		unsigned k = idx_key(rules[i].phrase);

		idx.order[idx.start[k] + count[k]++] = (unsigned short)i;
		idx.len[i] = (unsigned char)strlen(rules[i].phrase);
		idx.any[k / 64] |= (uint64_t)1 << (k % 64);
	}
	idx_banners();
}

/*
 * A gateway's banner, added to every message it passes: "this email has
 * been scanned for viruses" says the message was checked, not why it
 * failed. Its words are skipped, so that the "virus" row does not read
 * a disclaimer as a refusal; a text that says a virus was found still
 * says so outside the banner.
 */
#define BANNER(s) {s, sizeof(s) - 1}
static const struct {
	const char *s;
	size_t n;
} banners[] = {
	BANNER("scanned for viruses"), BANNER("scanned for all viruses"), BANNER("scanned for all known viruses"),
	BANNER("checked for viruses"), BANNER("scanned by antivirus"), BANNER("virus scanned by"),
	BANNER("virus-scanned by"), BANNER("anti-virus scanned"),
};
#undef BANNER

/* Marks the keys that start a banner (idx_build). */
static void
idx_banners(void)
{
	for (size_t b = 0; b < sizeof(banners) / sizeof(banners[0]); b++) {
		unsigned k = idx_key(banners[b].s);

		idx.banner[k / 64] |= (uint64_t)1 << (k % 64);
		idx.any[k / 64] |= (uint64_t)1 << (k % 64);
	}
}

/* The length of the banner that starts at @p (@n bytes left, key @key),
 * or 0. */
static size_t
banner_at(const char *p, size_t n, unsigned key)
{
	if (!(idx.banner[key / 64] >> (key % 64) & 1))
		return 0;
	for (size_t b = 0; b < sizeof(banners) / sizeof(banners[0]); b++)
		if (banners[b].n <= n && memcmp(p, banners[b].s, banners[b].n) == 0)
			return banners[b].n;
	return 0;
}

bool
bounce_rules_match(const char *lower, size_t len, struct bounce_rule_match *m)
{
	const struct bounce_rule *best = NULL;
	size_t at = 0, best_len = 0, skip;

	pthread_once(&idx_once, idx_build);
	for (size_t i = 0; i + 2 < len; i++) {
		unsigned key = idx_key(lower + i);

		if (!(idx.any[key / 64] >> (key % 64) & 1))
			continue;	/* most keys start no row and no banner */
		if ((skip = banner_at(lower + i, len - i, key)) > 0) {
			i += skip - 1;
			continue;
		}
		for (unsigned k = idx.start[key]; k < idx.start[key + 1]; k++) {
			const struct bounce_rule *r = &rules[idx.order[k]];
			size_t n = idx.len[idx.order[k]];

			/* Lowest rank wins; within a rank, the earliest in the text. */
			if ((best && r->rank >= best->rank) || n > len - i || memcmp(lower + i, r->phrase, n) != 0)
				continue;
			best = r;
			at = i;
			best_len = n;
		}
		if (best && best->rank <= RANK_TEMP)
			break;
	}
	if (best == NULL)
		return false;
	m->action = best->action;
	m->reason = best->reason;
	m->why = best->why;
	m->phrase = best->phrase;
	m->rank = rank_names[best->rank];
	m->row = (int)(best - rules) + 1;
	m->at = at;
	m->len = best_len;
	m->weak = best->rank == RANK_WEAK;
	m->temporary = best->rank == RANK_TEMP;
	m->strong = best->strong;
	m->domain = best->rank == RANK_GONE && (strcmp(best->reason, "unknown-domain") == 0 ||
						strcmp(best->reason, "no-mail-domain") == 0);
	return true;
}

/*
 * RFC 3463 status codes, read for what they can say of the recipient's
 * address; the first row that matches decides (-1: any). Only GONE rows
 * can give a hard verdict, and the text beside the code can still take it
 * back (verdict.c): a code and a text that disagree are soft.
 *
 * 5.2.1 is "mailbox disabled, not accepting messages" in RFC 3463 3.3:
 * "The mailbox exists, but is not accepting messages. This may be a
 * permanent error if the mailbox will never be re-enabled or a transient
 * error if the mailbox is only temporarily disabled", and some large
 * providers give it for a rate limit, others for an unknown user. Alone
 * it is soft (repeated, the soft score deletes); the text decides: a
 * phrase of a dead address makes it hard, of a disabled mailbox or a
 * rate limit soft.
 */
static const struct bounce_code_rule code_rules[] = {
	{2, -1, -1, BOUNCE_CODE_SUCCESS, "2.x.x", "delivered, relayed or expanded", "delivered"},
	{4, -1, -1, BOUNCE_CODE_TEMPORARY, "4.x.x", "a temporary failure", "temporary"},
	{5, 1, 1, BOUNCE_CODE_GONE, "5.1.1", "bad destination mailbox address", "unknown-user"},
	{5, 1, 2, BOUNCE_CODE_GONE, "5.1.2", "bad destination system address (the recipient's domain)", "unknown-domain"},
	{5, 1, 3, BOUNCE_CODE_GONE, "5.1.3", "bad destination mailbox address syntax", "bad-address"},
	{5, 1, 6, BOUNCE_CODE_GONE, "5.1.6", "destination mailbox has moved, no forwarding address", "moved"},
	{5, 1, 10, BOUNCE_CODE_GONE, "5.1.10", "recipient address has a null MX (RFC 7505)", "no-mail-domain"},
	{5, 1, 7, BOUNCE_CODE_SENDER, "5.1.7", "bad sender's mailbox address syntax", "sender"},
	{5, 1, 8, BOUNCE_CODE_SENDER, "5.1.8", "bad sender's system address", "sender"},
	{5, 1, -1, BOUNCE_CODE_TEXT, "5.1.x", "another address status", "address"},
	{5, 2, 1, BOUNCE_CODE_TEXT, "5.2.1", "mailbox disabled (RFC 3463: it exists), or a rate limit, or unknown", "disabled"},
	{5, 2, 2, BOUNCE_CODE_EXISTS, "5.2.2", "mailbox full", "mailbox-full"},
	{5, 2, 3, BOUNCE_CODE_SENDER, "5.2.3", "message length exceeds a limit", "too-large"},
	{5, 2, -1, BOUNCE_CODE_EXISTS, "5.2.x", "mailbox status", "mailbox"},
	{5, 3, 4, BOUNCE_CODE_SENDER, "5.3.4", "message too big for the system", "too-large"},
	{5, 3, -1, BOUNCE_CODE_TEXT, "5.3.x", "mail system status", "system"},
	{5, 4, -1, BOUNCE_CODE_TEXT, "5.4.x", "network and routing", "routing"},
	{5, 5, -1, BOUNCE_CODE_TEXT, "5.5.x", "mail delivery protocol", "protocol"},
	{5, 6, -1, BOUNCE_CODE_SENDER, "5.6.x", "message content or media", "content"},
	{5, 7, -1, BOUNCE_CODE_SENDER, "5.7.x", "security or policy", "policy"},
	{-1, -1, -1, BOUNCE_CODE_TEXT, "5.x.x", "another permanent failure", "permanent"},
};

const struct bounce_code_rule *
bounce_rules_code(const struct smtp_status *st)
{
	size_t n = sizeof(code_rules) / sizeof(code_rules[0]), i;

	for (i = 0; i + 1 < n; i++) {
		const struct bounce_code_rule *r = &code_rules[i];

		if (r->klass == st->klass && (r->subject < 0 || r->subject == st->subject) &&
		    (r->detail < 0 || r->detail == st->detail))
			return r;
	}
	return &code_rules[n - 1];
}

const char *
bounce_rules_code_class(enum bounce_code_class cls)
{
	switch (cls) {
	case BOUNCE_CODE_SUCCESS:
		return "success, never a failure";
	case BOUNCE_CODE_TEMPORARY:
		return "temporary, never hard";
	case BOUNCE_CODE_SENDER:
		return "about the sender or the message, never hard";
	case BOUNCE_CODE_EXISTS:
		return "the mailbox exists, never hard";
	case BOUNCE_CODE_TEXT:
		return "the text decides";
	case BOUNCE_CODE_GONE:
		return "the address is gone, unless the text says otherwise";
	}
	return "the text decides";
}

/*
 * MTAs whose bounces word an unknown user only for a refusal of the
 * address itself: Sisimai's lhost modules for them (McAfee.pm,
 * IMailServer.pm, MessageLabs.pm, GSuite.pm, PowerMTA.pm, Outlook.pm) map
 * these words straight to "userunknown". Each row: the headers that
 * identify the MTA (all must hold; "" = present), as those modules detect
 * it. Only the report the MTA wrote itself, and only its own words, not a
 * remote's reply it quotes (verdict.c). Outlook.pm also files Hotmail's
 * own "Requested action not taken: mailbox unavailable" (5.5.0) as
 * "userunknown"; Hotmail gives those words where its text says no more
 * than RFC 5321's generic 550, so they stay the soft "unavailable" (round
 * 9 of the rules).
 */
static const struct bounce_mta {
	const char *name;
	struct {
		const char *header, *contains;
	} need[2];
} mtas[] = {
	{"McAfee", {{"X-NAI-Header", "Modified by McAfee"}}},
	{"IMail", {{"X-Mailer", "<SMTP32 v"}}},
	{"MessageLabs", {{"X-Msg-Ref", ""}, {"From", "MAILER-DAEMON@messagelabs.com"}}},
	{"Google", {{"X-Gm-Message-State", ""}, {"From", "mailer-daemon@googlemail.com"}}},
	{"PowerMTA", {{"Subject", "Delivery report"}}},
	{"Outlook", {{"From", "postmaster@hotmail.com"}}},
	/* Exim's own subject: its report quotes a remote's reply after
	 * "SMTP error from remote mail server after RCPT TO:" or "after end
	 * of data"; without one, the reason is its own (a router or local
	 * delivery of the host that holds the mailbox). */
	{"Exim", {{"Subject", "Mail delivery failed: returning message to sender"}}},
};

const char *
bounce_rules_mta(const char *(*get)(void *arg, const char *name), void *arg)
{
	for (size_t i = 0; i < sizeof(mtas) / sizeof(mtas[0]); i++) {
		bool all = true;

		for (size_t k = 0; k < 2 && mtas[i].need[k].header && all; k++) {
			const char *v = get(arg, mtas[i].need[k].header);

			all = v && strcasestr(v, mtas[i].need[k].contains) != NULL;
		}
		if (all)
			return mtas[i].name;
	}
	return NULL;
}

/*
 * Orange (France Telecom) puts its own error codes in its replies:
 * "LPN007_416", "OFR_416", "LPNAAA_416", "OUK004-418". Sisimai's
 * Rhost/FrancePTT.pm reads the last three digits; 416 and 418 say the
 * recipient does not exist. Other codes are left to the phrase table.
 */
static const char *const orange_prefixes[] = {"lpnaaa", "lpn", "ofr", "ouk"};
static const char *const orange_gone[] = {"416", "418"};

bool
bounce_rules_provider_gone(const char *lower, size_t len)
{
	for (size_t i = 0; i + 6 < len; i++) {
		if (lower[i] != 'l' && lower[i] != 'o')
			continue;
		if (i > 0 && isalnum((unsigned char)lower[i - 1]))
			continue;
		for (size_t p = 0; p < sizeof(orange_prefixes) / sizeof(orange_prefixes[0]); p++) {
			size_t n, e, d = 0;
			char last[3];

			if (lower[i + 1] != orange_prefixes[p][1])
				continue;	/* most words: no strlen, no memcmp */
			n = strlen(orange_prefixes[p]);
			e = i + n;
			if (e > len || memcmp(lower + i, orange_prefixes[p], n) != 0)
				continue;
			/* _NNN, or NNN-NNN / NNN_NNN */
			while (e < len && (isdigit((unsigned char)lower[e]) || lower[e] == '_' || lower[e] == '-')) {
				if (isdigit((unsigned char)lower[e])) {
					last[d % 3] = lower[e];
					d++;
				}
				e++;
			}
			if (d < 3 || (e < len && isalnum((unsigned char)lower[e])))
				break;
			char code[4] = {last[d % 3], last[(d + 1) % 3], last[(d + 2) % 3], '\0'};

			for (size_t k = 0; k < sizeof(orange_gone) / sizeof(orange_gone[0]); k++)
				if (strcmp(code, orange_gone[k]) == 0)
					return true;
			break;
		}
	}
	return false;
}

/* Words that make an otherwise permanent-sounding failure temporary. */
static const char *const temporary_phrases[] = {
	"try again later", "temporar", "will be retried", "delayed", "deferred",
	"will continue", "retrying", "still trying",
};

bool
bounce_rules_temporary(const char *lower, size_t len)
{
	for (size_t i = 0; i < sizeof(temporary_phrases) / sizeof(temporary_phrases[0]); i++)
		if (memmem(lower, len, temporary_phrases[i], strlen(temporary_phrases[i])))
			return true;
	return false;
}
