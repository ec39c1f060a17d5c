"""The web console in a real headless Chromium (Debian's chromium and chromedriver, driven by
Selenium): create a topic, produce a record from the form, find it by a value filter, watch a
group's lag drop as it consumes, reset its offsets, see a KIP-848 group's assignment, see an idempotent producer's id in the
segment inspector, and see the topic list's rates. Each page is saved as a screenshot at 1280
and 390 px widths into $CARGO_TARGET_DIR (or target/)/console-screenshots, for a person to
look at."""

import os
import pathlib
import shutil
import time

import pytest
from confluent_kafka import Consumer as ConfluentConsumer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOPIC = "browser-orders"
GROUP = "browser-group"
MODERN_GROUP = "browser-kip848"
PRODUCED = 5  # by the idempotent producer, after the form's record

REPO = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "console-screenshots"


@pytest.fixture
def browser(tmp_path):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}); .ci/run installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Without the background-networking flags Chromium stalls on a machine with no network.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


class Console:
    """The browser on one broker's console, saving each page it is asked to."""

    def __init__(self, driver, broker):
        from selenium.webdriver.common.by import By

        self.driver, self.base, self.by = driver, f"http://{broker.http}", By
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)
        SCREENSHOTS.mkdir(parents=True)

    def open(self, path):
        self.driver.get(self.base + path)

    def find(self, css):
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def texts(self, css):
        return [e.text for e in self.driver.find_elements(self.by.CSS_SELECTOR, css)]

    def fill(self, form_css, fields, select=None):
        """Types `fields` into the form's inputs, picks `select` options by value, submits."""
        form = self.find(form_css)
        for name, value in fields.items():
            field = form.find_element(self.by.NAME, name)
            field.clear()
            field.send_keys(value)
        for name, value in (select or {}).items():
            self.pick(form_css, name, value)
        form = self.find(form_css)
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.find("html")
        form.find_element(self.by.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(self.driver, 15).until(expected_conditions.staleness_of(page))

    def pick(self, form_css, name, value):
        """Picks the option `value` of the form's select `name`. Chrome's driver now and then
        loses the option it is clicking ("Node with given id does not belong to the
        document", seen in CI with Chrome 156): the option is looked up and clicked again,
        a few times, and must end up selected."""
        from selenium.common.exceptions import WebDriverException

        css = f"select[name={name}] option[value={value}]"
        for attempt in range(3):
            try:
                option = self.find(form_css).find_element(self.by.CSS_SELECTOR, css)
                option.click()
                if option.is_selected():
                    return
            except WebDriverException:
                if attempt == 2:
                    raise
            time.sleep(0.2)
        assert self.find(form_css).find_element(self.by.CSS_SELECTOR, css).is_selected(), css

    def heading(self):
        return self.find("h1").text

    def shoot(self, name):
        """The page at a desktop and a phone width, the whole height of its content."""
        for width in (1280, 390):
            self.driver.set_window_size(width, 900)
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(width, min(max(height, 600), 4000))
            # The page never scrolls sideways at either width: wide tables scroll in their box.
            overflow = self.driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px window"
            assert self.driver.save_screenshot(str(SCREENSHOTS / f"{name}-{width}.png"))
        self.driver.set_window_size(1280, 900)


def test_console_in_a_browser(broker, browser):
    console = Console(browser, broker)
    console.open("/")
    assert console.heading() == "Overview"
    console.shoot("overview")

    console.open("/topics")
    console.fill("form[action='/topics']", {"name": TOPIC, "partitions": "1"})
    assert console.heading() == f"Topic {TOPIC}"
    console.shoot("topic")
    console.open("/topics")
    assert TOPIC in console.texts("td a")
    console.shoot("topics")

    # A record from the form, then five from an idempotent producer.
    console.open(f"/topics/{TOPIC}/partitions/0/messages")
    console.fill("form[action$='/produce']", {"key": "order-1", "value": '{"item": "tea", "qty": 2}'})
    assert browser.current_url.endswith("messages?mode=offset&offset=0")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True, linger_ms=20)
    for i in range(PRODUCED):
        producer.send(TOPIC, key=b"bulk-%d" % i, value=b"coffee %d" % i, partition=0)
    producer.flush(timeout=15)
    producer.close()

    console.fill("form[method=get]", {"value": "tea", "count": "20"}, select={"mode": "newest", "format": "json"})
    assert console.texts("table.records td.num")[:1] == ["0"]
    values = console.texts("table.records td.value")
    assert len(values) == 1 and '"item": "tea"' in values[0], values
    console.shoot("messages")
    console.fill("form[method=get]", {"value": "coffee"}, select={"format": "text"})
    assert console.texts("table.records td.value") == [f"coffee {i}" for i in range(PRODUCED)]
    producer_ids = set(console.texts("table.batches td.producer"))
    assert len(producer_ids) == 1 and int(producer_ids.pop()) >= 0

    # A group's lag: everything, then nothing once it has consumed and committed.
    end = PRODUCED + 1
    tp = TopicPartition(TOPIC, 0)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=GROUP, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    consumer.assign([tp])
    consumer.commit({tp: OffsetAndMetadata(0, None, -1)})
    console.open(f"/groups/{GROUP}")
    assert console.texts("table.offsets td.lag") == [str(end)]
    consumed = 0
    for _ in consumer:
        consumed += 1
        if consumed == end:
            break
    consumer.commit({tp: OffsetAndMetadata(end, None, -1)})
    consumer.close()
    browser.refresh()
    assert console.texts("table.offsets td.lag") == ["0"]
    console.shoot("group")
    console.open("/groups")
    assert GROUP in console.texts("td a")
    console.shoot("groups")

    console.open(f"/groups/{GROUP}")
    console.fill("form[action$='/reset']", {}, select={"to": "earliest"})
    assert console.heading() == f"Group {GROUP}"
    assert console.texts("table.offsets td.committed") == ["0"]
    assert console.texts("table.offsets td.lag") == [str(end)]

    # A KIP-848 group (librdkafka with group.protocol=consumer): its member with the
    # partition the broker assigned it, as ConsumerGroupDescribe tells it.
    modern = ConfluentConsumer({"bootstrap.servers": broker.bootstrap, "group.id": MODERN_GROUP,
                                "group.protocol": "consumer", "client.id": "kip848-browser"})
    modern.subscribe([TOPIC])
    for _ in range(300):
        modern.poll(0.1)
        if modern.assignment():
            break
    assert [(tp.topic, tp.partition) for tp in modern.assignment()] == [(TOPIC, 0)]
    console.open(f"/groups/{MODERN_GROUP}")
    assert console.texts("table.members td.assigned") == [f"{TOPIC}-0"]
    assert console.texts("table.members td.target") == [f"{TOPIC}-0"]
    console.shoot("group-kip848")
    modern.close()

    # The segment inspector: the idempotent producer's batch, CRC checked.
    console.open(f"/topics/{TOPIC}/partitions/0/segments")
    console.shoot("segments")
    console.open(console.find("table.segments td a").get_attribute("pathname"))
    assert console.heading() == f"{TOPIC} / partition 0 / segment 0"
    inspected = console.texts("table.batches td.producer")
    assert "-1" in inspected and any(int(p) >= 0 for p in inspected), inspected
    assert "MISMATCH" not in browser.page_source
    console.shoot("segment")

    # A config edited in the topic page, with its source.
    console.open(f"/topics/{TOPIC}")
    console.fill("tr#config-retention\\.ms form", {"value": "3600000"})
    row = console.find("tr#config-retention\\.ms")
    assert row.find_element(console.by.NAME, "value").get_attribute("value") == "3600000"
    assert row.find_element(console.by.CSS_SELECTOR, "td.source").text == "DYNAMIC_TOPIC_CONFIG"
    console.shoot("topic-configs")

    console.open("/transactions")
    assert console.heading() == "Transactions and producers"
    console.fill("form[action='/transactions']", {}, select={"topic": TOPIC})
    assert console.texts("table.producers td.pid") == sorted({p for p in inspected if p != "-1"})
    console.shoot("transactions")

    # The overview's live charts, drawn by the vendored uPlot from the broker's totals: the
    # records produced (the form's and the producer's), once two reads made a point.
    from selenium.webdriver.support.ui import WebDriverWait

    console.open("/")
    WebDriverWait(browser, 15).until(lambda d: int(console.find("#rates").get_attribute("data-points") or 0) >= 1)
    assert console.find("#rates").get_attribute("data-produce-records") == str(end)
    assert len(browser.find_elements(console.by.CSS_SELECTOR, "#charts .uplot canvas")) == 2
    console.shoot("overview-live")

    # The topic list's rates: the change in the counters between two views at least 2 s
    # apart; the first view (before anything was produced) took the first sample.
    console.open("/topics")

    def topic_rate(cell):
        row = console.texts("table.topics td:first-child a").index(TOPIC)
        return console.texts(f"table.topics td.{cell}")[row]

    def rated(driver):
        driver.refresh()
        return topic_rate("produce-records") != "-"

    WebDriverWait(browser, 30, poll_frequency=0.5).until(rated)
    for cell in ("produce-records", "produce-bytes", "fetch-records", "fetch-bytes"):
        rate = topic_rate(cell)
        assert rate.endswith("/s") and float(rate.split()[0].removesuffix("/s")) > 0, (cell, rate)
    assert "between the last two views" in console.find("#rates-window").text
    console.shoot("topics-rates")

    # A topic that does not exist: a page saying so, and a 404 (checked by the Rust tests).
    console.open("/topics/no-such-topic")
    assert "Unknown topic no-such-topic." in console.find("p.error").text
    console.shoot("error")
