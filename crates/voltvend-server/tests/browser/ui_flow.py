#!/usr/bin/env python3
"""The operator web UI in a real browser: headless Chromium driven by Selenium (neither written here).

Run by tests/it/browser.rs against `voltvend demo`; it can be run by hand against any demo:

    python3 ui_flow.py --base http://127.0.0.1:8080 --logins logins.json --shots /tmp/shots

`logins.json` maps usernames to passwords (as the demo prints them). Each step waits on a condition of the page
(an element, a text), never on a fixed delay. Screenshots of the main pages in both languages go to --shots.
"""

import argparse
import json
import os
import re
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_S = 30
# The demo's head end reads every meter each minute; a relay close is done once a read-back confirms it.
RELAY_WAIT_S = 240


class Flow:
    def __init__(self, base, logins, shots):
        self.base = base.rstrip("/")
        self.logins = logins
        self.shots = shots
        options = webdriver.ChromeOptions()
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1366,768", "--lang=zh-CN"]:
            options.add_argument(arg)
        # The browser asks for Chinese first, as at the source system's counters; the flow switches to English.
        options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        service = webdriver.ChromeService(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        self.d = webdriver.Chrome(options=options, service=service)
        self.d.set_page_load_timeout(WAIT_S)
        self.steps = []

    # -- helpers ---------------------------------------------------------------------------------------------

    def wait(self, condition, timeout=WAIT_S):
        return WebDriverWait(self.d, timeout).until(condition)

    def el(self, css):
        return self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, css)))

    def go(self, path):
        self.d.get(self.base + path)

    def shot(self, name):
        lang = self.lang()
        path = os.path.join(self.shots, f"{name}.{lang}.png")
        self.d.save_screenshot(path)

    def step(self, text):
        self.steps.append(text)
        print("ok:", text, flush=True)

    def check(self, cond, message):
        if not cond:
            raise AssertionError(message)

    def login(self, username, next_path="/ui/"):
        self.d.delete_all_cookies()
        self.go("/ui/login?next=" + next_path)
        self.el("#username").send_keys(username)
        self.el("#password").send_keys(self.logins[username])
        self.el("#login").click()
        self.wait(EC.presence_of_element_located((By.ID, "logout")))

    def api(self, path):
        """GET an API path with the browser's own session (what the page's operator may see)."""
        return self.d.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            fetch(arguments[0], {credentials: 'same-origin'})
              .then(r => r.text().then(t => done({status: r.status, type: r.headers.get('content-type'), body: t})))
              .catch(e => done({status: 0, type: '', body: String(e)}));
            """,
            path,
        )

    def lang(self):
        return self.d.execute_script("return document.documentElement.lang")

    def set_lang(self, tag):
        if self.lang() != tag:
            self.el("#lang-switch").click()
            # The page is replaced by the redirect: wait for the new one's language.
            WebDriverWait(self.d, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: d.execute_script("return document.readyState") == "complete" and self.lang() == tag
            )

    # -- the flows -------------------------------------------------------------------------------------------

    def login_returns_to_the_page_asked_for(self):
        self.d.delete_all_cookies()
        self.go("/ui/counter")
        self.wait(EC.url_contains("/ui/login"))
        self.shot("login")
        self.el("#username").send_keys("cashier.centre")
        self.el("#password").send_keys("not the password")
        self.el("#login").click()
        error = self.el("#error")
        self.check(error.get_attribute("data-code") == "login_failed", "a wrong password is refused")
        self.el("#password").send_keys(self.logins["cashier.centre"])
        self.el("#login").click()
        self.wait(EC.url_contains("/ui/counter"))
        self.step("a lost session logs in and returns to the page it was on; a wrong password is refused")

    def open_shift(self):
        self.go("/ui/shift")
        if not self.d.find_elements(By.ID, "shift-open"):
            self.el("#opening_float").clear()
            self.el("#opening_float").send_keys("200.00")
            self.el("#open-shift").click()
            self.el("#shift-open")
        self.shot("shift")
        self.step("the cashier's shift is open")

    def find(self, query):
        """At the counter with the keyboard only: "/" to the box, the query, ↓ to the first result, Enter."""
        self.go("/ui/")
        self.el("body").send_keys("/")
        self.wait(EC.url_contains("/ui/counter"))
        self.wait(lambda d: d.switch_to.active_element.get_attribute("id") == "q")
        self.d.switch_to.active_element.send_keys(query)
        # The live search replaces the results as the cashier types (no page load).
        self.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, "#results a.result")))
        self.shot("counter")
        self.d.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
        self.d.switch_to.active_element.send_keys(Keys.ENTER)
        self.wait(EC.url_contains("/ui/accounts/"))

    def sell(self, amount, keyboard=False):
        """The amount and the confirmation: by keyboard (Enter twice, the focus is where it is needed), or by a
        double click on the confirm button (sent once; a second sending would replay the same sale)."""
        self.wait(lambda d: d.switch_to.active_element.get_attribute("id") == "amount")
        self.d.switch_to.active_element.send_keys(amount)
        if keyboard:
            self.d.switch_to.active_element.send_keys(Keys.ENTER)
        else:
            self.el("#quote").click()
        self.el("#split")
        self.shot("confirm")
        units = [u.text for u in self.d.find_elements(By.ID, "q-units")]
        button = self.el("#confirm")
        if keyboard:
            self.wait(lambda d: d.switch_to.active_element.get_attribute("id") == "confirm")
            self.d.switch_to.active_element.send_keys(Keys.ENTER)
        else:
            self.d.execute_script("arguments[0].click(); arguments[0].click();", button)
        self.wait(EC.url_contains("/ui/sales/"))
        return units[0] if units else None

    def sell_sts_and_read_the_token(self):
        meters = json.loads(self.api("/api/v1/meters?protocol=sts_keypad&limit=1")["body"])["items"]
        self.check(meters, "the demo has STS meters")
        serial = meters[0]["serial"]
        self.find(serial)
        before = json.loads(self.api(f"/api/v1/sales?meter_id={meters[0]['id']}&limit=100")["body"])["items"]
        self.sell("50.00", keyboard=True)
        token = self.el("#token-1").text
        self.check(re.fullmatch(r"\d{4} \d{4} \d{4} \d{4} \d{4}", token), f"a 20-digit token in fours: {token!r}")
        self.shot("sale")
        self.set_lang("en")
        self.el("#token-1")
        self.shot("sale")
        self.set_lang("zh-CN")
        after = json.loads(self.api(f"/api/v1/sales?meter_id={meters[0]['id']}&limit=100")["body"])["items"]
        self.check(len(after) == len(before) + 1, f"one sale: {len(before)} -> {len(after)}")
        sale_id = self.d.current_url.rsplit("/", 1)[1]
        sale = json.loads(self.api(f"/api/v1/sales/{sale_id}")["body"])
        self.check(sale["tokens"][0] == token.replace(" ", ""), "the page shows the sale's token")
        self.token_digits = sale["tokens"][0]
        self.step(f"sold 50.00 to STS meter {serial} with the keyboard only; token {token}")
        return sale_id

    def print_and_reprint(self, sale_id):
        main = self.d.current_window_handle
        self.el("#print").click()
        self.wait(lambda d: len(d.window_handles) > 1)
        receipt = [h for h in self.d.window_handles if h != main][0]
        self.d.switch_to.window(receipt)
        self.wait(lambda d: "</html>" in d.page_source)
        self.check("print.js" in self.d.page_source, "the receipt view opens the print dialog")
        self.check(self.token_digits in self.d.page_source.replace(" ", ""), "the receipt carries the token")
        self.d.close()
        self.d.switch_to.window(main)
        self.el("#reprint").click()
        self.wait(lambda d: len(d.window_handles) > 1)
        copy = [h for h in self.d.window_handles if h != main][0]
        self.d.switch_to.window(copy)
        self.wait(lambda d: "</html>" in d.page_source)
        self.check("副本" in self.d.page_source, "a reprint is marked as a copy, in the operator's language")
        self.d.close()
        self.d.switch_to.window(main)
        self.step("the receipt prints (80 mm view) and a reprint is marked COPY/副本")

    def request_reversal(self, sale_id):
        self.go(f"/ui/sales/{sale_id}")
        self.el("details.correction summary").click()
        self.el("#reason").send_keys("browser test: sold to the wrong customer")
        self.el("#request-correction").click()
        self.wait(EC.url_contains("/ui/approvals"))
        self.shot("approvals")
        # The maker cannot decide it: the page offers no approval to a cashier.
        self.check(not self.d.find_elements(By.CSS_SELECTOR, "button.approve"), "the maker sees no approve button")
        self.step("the cashier asked for the sale's reversal")

    def approve_as_manager(self, sale_id):
        self.login("manager", "/ui/approvals")
        card = self.wait(
            lambda d: next(
                (a for a in d.find_elements(By.CSS_SELECTOR, "article.approval") if sale_id in a.get_attribute("innerHTML")),
                False,
            )
        )
        approval_id = card.get_attribute("data-id")
        card.find_element(By.CSS_SELECTOR, "button.approve").click()
        self.wait(EC.alert_is_present()).accept()
        self.wait(EC.url_contains("/ui/approvals"))
        approval = json.loads(self.api(f"/api/v1/corrections/{approval_id}")["body"])
        self.check(approval["status"] == "approved", f"approved: {approval['status']}")
        sale = json.loads(self.api(f"/api/v1/sales?reversed=true&limit=50")["body"])["items"]
        self.check(any(s["id"] == sale_id for s in sale), "the sale is reversed")
        self.step("a second operator (the manager) approved the reversal; the sale is reversed")

    def remote_sale_closes_the_relay(self):
        # An account whose remote electricity meter is tripped for want of credit (found by the manager, who
        # reads reports; the cashier sells).
        self.login("manager")
        lines = json.loads(self.api("/api/v1/reports/balances?kind=zero_balance&limit=200")["body"])["items"]
        target = None
        for line in lines:
            account = json.loads(self.api(f"/api/v1/accounts/{line['account_id']}")["body"])
            for m in account.get("meters", []):
                if m["control_mode"] == "remote" and m["protocol"] == "dlt645" and m["relay"] == "open":
                    supply = json.loads(self.api(f"/api/v1/meters/{m['id']}/supply")["body"])
                    if not supply["held_open"]:
                        target = (account, m)
                        break
            if target:
                break
        self.check(target, "the demo has a tripped remote meter")
        account, meter = target
        self.login("cashier.centre", f"/ui/accounts/{account['id']}")
        before = json.loads(self.api(f"/api/v1/sales?meter_id={meter['id']}&limit=100")["body"])["items"]
        # The account may have another meter (a flat's water meter) first in the list: sell to the tripped one.
        Select(self.el("#meter_id")).select_by_value(meter["id"])
        self.el("#amount").click()
        self.sell("100.00")
        self.el("#credited")
        after = json.loads(self.api(f"/api/v1/sales?meter_id={meter['id']}&limit=100")["body"])["items"]
        self.check(len(after) == len(before) + 1, f"a double click sold once: {len(before)} -> {len(after)}")
        self.go(f"/ui/meters/{meter['id']}")
        self.check(self.el("#relay").get_attribute("class") == "relay-closed", "the relay is wanted closed at once")
        # The head end closes it and reads it back; the page shows what the meter reported.
        deadline_reached = False
        try:
            WebDriverWait(self.d, RELAY_WAIT_S, poll_frequency=2, ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: (d.refresh() or True) and "relay-closed" in d.find_element(By.ID, "relay-reported").get_attribute("outerHTML")
            )
        except TimeoutException:
            deadline_reached = True
        self.check(not deadline_reached, "the meter reported its relay closed")
        self.shot("meter")
        self.step(f"a payment to tripped remote meter {meter['serial']} (a double click sold once) closed its relay (reported by the meter)")

    def open_details(self):
        """Opens every folded form (<details>) of the page, as a person clicking their titles would."""
        self.d.execute_script("document.querySelectorAll('details').forEach(function (d) { d.open = true; })")

    def submit(self, css, confirm=False):
        """Clicks a form's button and waits for the page it answers with: a mark set on the old page's window is
        gone once the new page has loaded (a navigation gets a new window object)."""
        self.d.execute_script("window.__voltvendOldPage = true;")
        self.el(css).click()
        if confirm:
            self.wait(EC.alert_is_present()).accept()
        self.wait(
            lambda d: d.execute_script(
                "return window.__voltvendOldPage === undefined && document.readyState === 'complete';"
            )
        )

    def ic_card_loop(self):
        # A flat on an IC-card meter waiting for its card (the demo seeds four), with the counter's virtual reader.
        self.login("engineer")
        found = json.loads(self.api("/api/v1/meters?q=DDSY-IC-0001&limit=5")["body"])["items"]
        self.check(found, "the demo has IC-card meters")
        meter = found[0]
        page = f"/ui/meters/{meter['id']}"
        # The field engineer: a blank card in the reader, a parameter card written on it, inserted at the meter.
        self.go(page)
        self.el("#no-card")
        self.submit("#virtual-new")
        self.check(re.fullmatch(r"[0-9A-F]{16}", self.el("#in-reader").text), "a new blank card in the reader")
        self.open_details()
        Select(self.el("#field-kind")).select_by_value("parameter")
        self.submit("#write-field-card")
        self.el("#card-notice")
        self.submit("#virtual-meter")
        notice = self.el("#card-notice").text
        self.check(meter["address"] in notice, f"the simulated meter took the parameter card: {notice!r}")
        self.step(f"a field engineer opened IC-card meter {meter['serial']} with a parameter card")
        # The cashier: the parameter card out, a new blank card in, issued to the meter.
        self.login("cashier.centre", page)
        self.submit("#virtual-eject")
        self.submit("#virtual-new")
        serial = self.el("#in-reader").text
        self.check(re.fullmatch(r"[0-9A-F]{16}", serial), f"a new blank card in the reader: {serial!r}")
        self.open_details()
        self.submit("#issue-card", confirm=True)
        self.check(self.el("#card-serial").text == serial, "the card issued is the one in the reader")
        self.shot("card-meter")
        # A sale onto the card: the sale page says it reached the card.
        self.go(f"/ui/accounts/{meter['account_id']}")
        self.sell("20.00")
        self.el("#card-written")
        self.step(f"card {serial} issued and a sale written onto it")
        # At the meter, then read back at the counter.
        self.go(page)
        self.submit("#virtual-meter")
        self.el("#card-notice")
        self.go("/ui/card")
        self.submit("#read-card")
        self.el("#read-recorded")
        self.check(self.el("#read-serial").text == serial, "the card read is the card issued")
        self.shot("card")
        self.set_lang("en")
        self.go(page)
        self.shot("card-meter")
        self.go("/ui/card")
        self.submit("#read-card")
        self.el("#read-recorded")
        self.shot("card")
        self.set_lang("zh-CN")
        card = json.loads(self.api(f"/api/v1/meters/{meter['id']}/card")["body"])
        self.check(card["loaded_count"] == 1 and not card["purchase_pending"], f"loaded and read back: {card}")
        self.step("the meter loaded the purchase and the card was read back (回抄) at the counter")

    def switch_language(self):
        self.go("/ui/counter")
        self.set_lang("en")
        self.check(self.el("nav.main a[aria-current]").text == "Counter", "English navigation")
        self.shot("counter")
        self.go("/ui/")
        self.shot("dashboard")
        # The choice is kept with the operator: a new session elsewhere shows it too.
        self.login("cashier.centre", "/ui/counter")
        self.check(self.lang() == "en", "the language follows the operator")
        self.set_lang("zh-CN")
        self.check(self.el("nav.main a[aria-current]").text == "售电", "Chinese navigation")
        self.go("/ui/")
        self.shot("dashboard")
        self.step("the language switches both ways and sticks to the operator")

    def export_report(self):
        self.login("manager", "/ui/reports")
        self.shot("reports")
        for fmt, kind in [("csv", "text/csv"), ("xlsx", "spreadsheetml"), ("pdf", "application/pdf")]:
            href = self.el(f"#export-{fmt}").get_attribute("href")
            got = self.api(href)
            self.check(got["status"] == 200 and kind in (got["type"] or ""), f"{fmt} export: {got['status']} {got['type']}")
        self.check(self.d.find_elements(By.CSS_SELECTOR, "#summary tbody tr"), "the summary has rows")
        self.set_lang("en")
        self.shot("reports")
        self.set_lang("zh-CN")
        self.step("the sales report shows and exports as CSV, XLSX and PDF")

    def scoped_cashier_stays_in_their_building(self):
        # An account of building B, found as the park's manager.
        self.login("manager")
        customers = json.loads(self.api("/api/v1/customers?q=B-02&limit=5")["body"])["items"]
        self.check(customers, "building B has customers")
        customer = customers[0]
        accounts = json.loads(self.api(f"/api/v1/accounts?customer_id={customer['id']}")["body"])["items"]
        self.check(accounts, "the customer has an account")
        foreign = accounts[0]["id"]
        self.login("cashier.a")
        self.go(f"/ui/accounts/{foreign}")
        error = self.el("#error")
        self.check(error.get_attribute("data-code") == "not_found", "another building's account is not found")
        self.check(customer["name"] not in self.d.page_source, "nothing of it is shown")
        self.go("/ui/audit")
        self.check(self.el("#error").get_attribute("data-code") == "forbidden", "a cashier cannot read the audit log")
        self.step("a cashier of block A cannot reach block B's account by URL, nor the audit log")

    def premises_and_operators(self):
        self.login("manager", "/ui/premises")
        # Down the tree from the manager's park to a building (its month's use by unit) and a unit's customers.
        self.el("#children a").click()
        self.el("#consumption")
        self.shot("premises")
        self.set_lang("en")
        self.shot("premises")
        self.set_lang("zh-CN")
        while True:
            links = self.d.find_elements(By.CSS_SELECTOR, "#children a")
            if not links:
                break
            links[0].click()
            self.el("h1")
        self.check("/ui/customers/" in self.d.page_source, "a unit lists its customers")
        self.go("/ui/operators")
        self.el("#operators tbody tr")
        self.shot("operators")
        # A tariff priced against a meter's real, billed readings before anything is changed.
        meters = json.loads(self.api("/api/v1/meters?protocol=dlt645&limit=1")["body"])["items"]
        self.go(f"/ui/tariffs/{meters[0]['tariff_code']}")
        self.el("#preview-meter").send_keys(meters[0]["serial"])
        self.d.execute_script("document.getElementById('preview-from').value = arguments[0]", "2020-01-01")
        self.el("#preview").click()
        total = self.el("#preview-total").text
        self.check(re.fullmatch(r"\d+\.\d\d CNY", total), f"a priced total: {total!r}")
        self.shot("tariff")
        self.set_lang("en")
        self.shot("tariff")
        self.set_lang("zh-CN")
        self.step("the premises tree goes down to a unit's customers; operators and roles are listed; a tariff is priced against a meter's readings")

    def common_areas_and_energy(self):
        # 公摊: Block A's rule, last month's line loss and shares (posted by the demo, or previewed), a statement.
        self.login("manager", "/ui/apportionment")
        self.el("#rules tbody a").click()
        self.el("#figures")
        self.check(self.d.find_elements(By.CSS_SELECTOR, "#shares tbody tr"), "the units' shares are listed")
        self.shot("apportionment")
        self.set_lang("en")
        self.shot("apportionment")
        self.set_lang("zh-CN")
        self.el("#shares tbody tr a").click()
        self.el("#steps")
        self.step("公摊: a month's line loss and each unit's share, and a unit's statement")
        # 能耗分析: last month by category, beside the month before.
        self.go("/ui/energy?group_by=category&compare=previous")
        self.el("#energy")
        self.shot("energy")
        self.set_lang("en")
        self.shot("energy")
        self.set_lang("zh-CN")
        self.step("能耗分析: consumption by category beside the month before")
        # 房租物业费: Block A's property fee, this month's charges (issued by the demo), some overdue or paid.
        self.go("/ui/fees")
        self.el("#schedules tbody a")
        self.d.find_element(By.XPATH, "//*[@id='schedules']//a[contains(., 'Property fee')]").click()
        self.el("#charges")
        self.check(self.d.find_elements(By.CSS_SELECTOR, "#charges tbody tr"), "the units' charges are listed")
        self.check(self.el("#status").get_attribute("data-status") == "issued", "this month is issued")
        self.shot("fees")
        self.set_lang("en")
        self.shot("fees")
        self.set_lang("zh-CN")
        self.step("房租物业费: a month of the property fee, each unit's charge")
        # 后付费账单: Block A's shops' billing cycle, last month's bills, each with its printed bill.
        self.go("/ui/fees")
        self.el("#schedules tbody a")
        self.d.find_element(By.XPATH, "//*[@id='schedules']//a[contains(., 'Electricity bill')]").click()
        self.el("#choose-month")
        # This month as the server sees it (the page's default), and the month before.
        year, month = (int(x) for x in self.el("#choose-month input[name=period]").get_attribute("value").split("-"))
        last = f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
        self.go(self.d.current_url.split("?")[0].replace(self.base, "") + "?period=" + last)
        self.el("#charges")
        self.check(self.el("#status").get_attribute("data-status") == "issued", "last month's bills are issued")
        bills = self.d.find_elements(By.CSS_SELECTOR, "#charges a.bill")
        self.check(bills, "each shop's bill is linked")
        pdf = self.api(bills[0].get_attribute("href").replace(self.base, "").replace("format=pdf", "format=json"))
        self.check(json.loads(pdf["body"]).get("unit"), "the bill answers")
        self.shot("bills")
        self.set_lang("en")
        self.shot("bills")
        self.set_lang("zh-CN")
        self.step("后付费账单: last month's bills of Block A's shops")

    def tablet(self):
        # A tablet held upright: the same pages reflow (nothing wider than the screen).
        self.d.set_window_size(768, 1024)
        self.login("cashier.centre", "/ui/counter")
        for path, name in [("/ui/counter?q=A-01", "counter"), ("/ui/", "dashboard")]:
            self.go(path)
            self.el("main")
            wide = self.d.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 1")
            self.check(not wide, f"{path} fits a tablet's width")
            self.shot(f"tablet-{name}")
        self.d.set_window_size(1366, 768)
        self.step("the counter and the dashboard fit a tablet")

    def english_views(self):
        # The pages so far shot in Chinese only, in English too: the cashier's, the manager's and the login.
        self.login("cashier.centre", "/ui/shift")
        self.set_lang("en")
        self.shot("shift")
        meters = json.loads(self.api("/api/v1/meters?protocol=dlt645&limit=1")["body"])["items"]
        self.go(f"/ui/meters/{meters[0]['id']}")
        self.el("#relay")
        self.shot("meter")
        self.go(f"/ui/accounts/{meters[0]['account_id']}")
        # Above every account kind's minimum purchase (a company's is 50.00).
        self.el("#amount").send_keys("100.00")
        self.el("#quote").click()
        self.el("#split")
        self.shot("confirm")
        self.go("/ui/approvals")
        self.shot("approvals")
        self.set_lang("zh-CN")
        self.login("manager", "/ui/operators")
        self.set_lang("en")
        self.el("#operators")
        self.shot("operators")
        self.set_lang("zh-CN")
        self.el("#logout").click()
        self.wait(EC.url_contains("/ui/login"))
        self.set_lang("en")
        self.el("#username")
        self.shot("login")
        self.set_lang("zh-CN")
        self.step("the shift, meter, confirmation, approvals, operators and login pages show in English too")

    def office_pages(self):
        self.login("manager", "/ui/audit")
        self.el("#audit tbody tr")
        self.shot("audit")
        self.go("/ui/")
        self.shot("dashboard")
        self.set_lang("en")
        self.go("/ui/audit")
        self.shot("audit")
        self.set_lang("zh-CN")
        self.step("the audit log and the dashboard show for the manager")

    def run(self):
        try:
            self.login_returns_to_the_page_asked_for()
            self.open_shift()
            sale_id = self.sell_sts_and_read_the_token()
            self.print_and_reprint(sale_id)
            self.request_reversal(sale_id)
            self.remote_sale_closes_the_relay()
            self.ic_card_loop()
            self.switch_language()
            self.approve_as_manager(sale_id)
            self.export_report()
            self.premises_and_operators()
            self.common_areas_and_energy()
            self.office_pages()
            self.tablet()
            self.english_views()
            self.scoped_cashier_stays_in_their_building()
        except Exception:
            self.d.save_screenshot(os.path.join(self.shots, "failure.png"))
            with open(os.path.join(self.shots, "failure.html"), "w") as f:
                f.write(self.d.page_source)
            raise
        finally:
            self.d.quit()
        print(json.dumps({"steps": self.steps}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--logins", required=True)
    p.add_argument("--shots", required=True)
    a = p.parse_args()
    os.makedirs(a.shots, exist_ok=True)
    with open(a.logins) as f:
        logins = json.load(f)
    Flow(a.base, logins, a.shots).run()


if __name__ == "__main__":
    sys.exit(main())
