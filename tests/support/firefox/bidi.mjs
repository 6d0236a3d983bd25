// Drives Debian's firefox-esr for tests/support/engines.py through WebDriver BiDi (puppeteer-core,
// no geckodriver): one JSON command a line on stdin, one JSON answer a line on stdout.
// TMBUILD_NODE_TOOLS names the folder where scripts/test.sh installed package-lock.json's tools.
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";

const require = createRequire(path.join(process.env.TMBUILD_NODE_TOOLS, "package.json"));
const puppeteer = require("puppeteer-core");

let browser = null;
let page = null;
let problems = [];

async function newPage() {
  if (page) await page.close();
  problems = [];
  page = await browser.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String((error && error.message) || error)));
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
}

const commands = {
  async launch({ executable, prefs, profile }) {
    browser = await puppeteer.launch({
      browser: "firefox",
      executablePath: executable,
      headless: true,
      userDataDir: profile,
      extraPrefsFirefox: prefs,
    });
    return await browser.version();
  },
  async open({ url }) {
    await newPage();
    await page.goto(url);
  },
  async reload() {
    await page.reload();
  },
  async evaluate({ expression, seconds }) {
    // As WebKit's script timeout does: a promise that never settles fails the test, not CI.
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${seconds} s`)), seconds * 1000);
    });
    try {
      return await Promise.race([page.evaluate(expression), late]);
    } finally {
      clearTimeout(timer);
    }
  },
  async upload({ selector, file }) {
    const input = await page.$(selector);
    await input.uploadFile(file);
  },
  async problems() {
    return problems;
  },
  async close() {
    if (browser) await browser.close();
    browser = null;
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  const { command, ...args } = JSON.parse(line);
  let answer;
  try {
    answer = { value: (await commands[command](args)) ?? null };
  } catch (error) {
    answer = { error: String((error && error.message) || error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
  if (command === "close") process.exit(0);  // the launcher's handles would keep node alive
}
