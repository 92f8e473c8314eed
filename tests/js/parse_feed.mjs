#!/usr/bin/env node
// Independent feed parser for the Python test-suite (see tests/browser_support.py,
// parse_feed_with_node). Reads one RSS/Atom document on stdin, parses it with
// @rowanmanning/feed-parser (NOT feedparser, so the app's parsing is checked
// against a second implementation) and prints one JSON object on stdout:
//
//   {"title", "link", "description", "language", "self", "published", "updated",
//    "format", "items": [{"title", "link", "id", "published", "updated",
//                         "description", "content", "authors", "categories"}]}
//
// Dates are ISO 8601 strings in UTC (Date.prototype.toISOString) or null.
// Exit codes: 0 ok; 2 the document is not a feed the parser can read (a JSON
// object {"error", "code"} is printed on stderr); 1 anything else.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { parseFeed } = require('@rowanmanning/feed-parser');

function iso(date) {
	return date instanceof Date && !Number.isNaN(date.getTime()) ? date.toISOString() : null;
}

function person(author) {
	return { name: author.name ?? null, email: author.email ?? null, url: author.url ?? null };
}

function category(cat) {
	return cat.label ?? cat.term ?? null;
}

async function readStdin() {
	const chunks = [];
	for await (const chunk of process.stdin) {
		chunks.push(chunk);
	}
	return Buffer.concat(chunks).toString('utf8');
}

const xml = await readStdin();
let feed;
try {
	feed = parseFeed(xml);
} catch (error) {
	process.stderr.write(`${JSON.stringify({ error: String(error?.message ?? error), code: error?.code ?? null })}\n`);
	process.exit(2);
}

const result = {
	title: feed.title ?? null,
	link: feed.url ?? null,
	description: feed.description ?? null,
	language: feed.language ?? null,
	self: feed.self ?? null,
	published: iso(feed.published),
	updated: iso(feed.updated),
	format: feed.meta?.type ?? null,
	version: feed.meta?.version ?? null,
	items: feed.items.map((item) => ({
		title: item.title ?? null,
		link: item.url ?? null,
		id: item.id ?? null,
		published: iso(item.published),
		updated: iso(item.updated),
		description: item.description ?? null,
		content: item.content ?? null,
		authors: (item.authors ?? []).map(person),
		categories: (item.categories ?? []).map(category)
	}))
};
process.stdout.write(`${JSON.stringify(result)}\n`);
