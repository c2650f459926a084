"""The runs board, the run page and the incidents board in the system Chromium, under the
Content-Security-Policy, on a laptop and a tablet, in Spanish (the console's default) and
English: a dispatcher starts a run from its page and sees it in progress, and sees an
incident's evidence as a thumbnail and adds more from the board."""

import re

import pytest
from playwright.sync_api import expect

from fleet import services
from fleet.models import Assignment
from fleet.tests.factories import make_run, started_run
from identity.tests.factories import PASSWORD
from orders.models import Destination
from rappi.testing.browser import (
    SIZES,
    assert_no_sideways_scroll,
    console_sign_in,
    offline,
    screenshot,
    watch_csp,
)
from tracking.tests.factories import small_jpeg

pytestmark = pytest.mark.usefixtures("live_db")

LANGUAGES = ("es", "en")


def _open_console(browser, live_server, dispatcher, language: str, size: str):
    context = browser.new_context(viewport=SIZES[size])
    offline(context, live_server)  # map tiles refused, as on a closed network
    page = context.new_page()
    violations = watch_csp(page)
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm questions
    console_sign_in(page, live_server, dispatcher.email, PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    if language != "es":
        page.locator(f"form.language button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)
    return context, page, violations


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_dispatcher_starts_a_run_from_its_page(browser, live_server, dispatcher, language, size):
    run = make_run(dispatcher, orders=2, drops_per_order=2)
    started_run(dispatcher)  # another run on the board
    context, page, violations = _open_console(browser, live_server, dispatcher, language, size)

    page.goto(f"{live_server.url}/console/runs/")
    expect(page.locator(f"a[href='/console/runs/{run.pk}/']")).to_be_visible()
    expect(page.locator(".status-tabs a[aria-current=page]")).to_have_count(1)
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-runs-{language}-{size}")

    page.locator(f"a[href='/console/runs/{run.pk}/']").click()
    expect(page.locator("h1")).to_contain_text(f"#{run.pk}")
    expect(page.locator("#run-map")).to_be_visible()
    expect(page.locator("#run-map .map-stop")).to_have_count(5)
    expect(page.locator("#run-map path.map-line--route")).to_have_count(1)
    expect(page.locator("table.stops tbody tr")).to_have_count(
        5
    )  # one pickup (a shared origin), four drop-offs
    status = page.locator("#run-facts .facts dd .badge").first
    expect(status).to_have_class(re.compile(r"badge-assigned"))
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-run-{language}-{size}")

    page.locator("form[action$='/start/'] button[type=submit]").click()
    expect(page.locator(".message-success")).to_be_visible()
    expect(status).to_have_class(re.compile(r"badge-in.progress"))
    expect(page.locator("form[action$='/finish/']")).to_be_visible()
    expect(page.locator("form[action$='/start/']")).to_have_count(0)
    screenshot(page, f"console-run-started-{language}-{size}")
    assert violations == []
    context.close()


def test_the_run_page_follows_the_run_as_the_driver_starts_it(browser, live_server, dispatcher):
    run = make_run(dispatcher)
    context, page, violations = _open_console(browser, live_server, dispatcher, "en", "laptop")
    page.goto(f"{live_server.url}/console/runs/{run.pk}/")
    status = page.locator("#run-facts .facts dd .badge").first
    expect(status).to_have_class(re.compile(r"badge-assigned"))
    driver_user = Assignment.objects.select_related("driver__user").get(pk=run.pk).driver.user
    services.assignment_start(assignment=run, by=driver_user)  # from the driver's app
    # No reload: the facts refresh in place within 10 s.
    expect(status).to_have_class(re.compile(r"badge-in.progress"), timeout=15_000)
    expect(page.locator("#run-facts")).to_contain_text("Silent")
    assert violations == []
    context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_run_page_shows_proofs_and_incident_evidence_that_open_full_size(
    browser, live_server, dispatcher, language
):
    run = started_run(dispatcher, drops_per_order=2)
    run = Assignment.objects.select_related("driver__user").get(pk=run.pk)
    first = Destination.objects.filter(order__assignments=run).order_by("pk").first()
    services.destination_deliver(
        assignment=run,
        destination_id=first.pk,
        received_by="Marta Ccama",
        photo=("door.jpg", small_jpeg("blue")),
        by=run.driver.user,
    )
    incident = services.incident_report(
        assignment=run, type="wrong_address", notes="Number 325 is a shop", by=run.driver.user
    )
    services.incident_evidence_add(
        incident=incident, kind="photo", uploads=[("shop.jpg", small_jpeg())], by=dispatcher
    )
    context, page, violations = _open_console(browser, live_server, dispatcher, language, "laptop")
    page.goto(f"{live_server.url}/console/runs/{run.pk}/")
    proof = page.locator("#run-stops .thumbs img")
    expect(proof).to_have_count(1)
    page.wait_for_function(
        "image => image.complete && image.naturalWidth > 0", arg=proof.element_handle()
    )
    expect(page.locator(f"#incident-{incident.pk} img")).to_be_visible()
    expect(page.locator("table.stops .badge-visited")).to_have_count(2)  # its pickup too
    screenshot(page, f"console-run-proofs-{language}-laptop")
    with context.expect_page() as opened:
        page.locator("#run-stops .thumbs a").click()
    full = opened.value
    full.wait_for_load_state()
    assert full.evaluate("document.images[0].naturalWidth") > 0
    assert violations == []
    context.close()


def test_stops_are_put_in_order_with_the_arrows(browser, live_server, dispatcher):
    run = make_run(dispatcher, drops_per_order=3)
    context, page, violations = _open_console(browser, live_server, dispatcher, "en", "laptop")
    page.goto(f"{live_server.url}/console/runs/{run.pk}/")
    rows = page.locator("form.sequence tbody tr")
    expect(rows).to_have_count(4)
    second = rows.nth(2).locator("td").nth(2).inner_text()
    rows.nth(2).locator("button[name=up]").click()
    expect(page.locator(".message-success")).to_be_visible()
    expect(page.locator("form.sequence tbody tr").nth(1).locator("td").nth(2)).to_have_text(second)

    # A drop-off before its pickup (Enter in a number applies the numbers, not an arrow):
    # refused, with the reason.
    page.locator("form.sequence input.position").first.fill("4")
    page.locator("form.sequence input.position").first.press("Enter")
    expect(page.locator(".message-error")).to_contain_text("is a drop-off before its pickup")
    assert violations == []
    context.close()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_incidents_board_shows_evidence_thumbnails(
    browser, live_server, dispatcher, language, size
):
    run = started_run(dispatcher)
    incident = services.incident_report(
        assignment=run, type="damaged_package", notes="Box crushed on one corner", by=dispatcher
    )
    services.incident_evidence_add(
        incident=incident, kind="photo", uploads=[("box.jpg", small_jpeg())], by=dispatcher
    )
    services.incident_report(assignment=run, type="traffic", notes="Jam", by=dispatcher)
    context, page, violations = _open_console(browser, live_server, dispatcher, language, size)

    page.goto(f"{live_server.url}/console/incidents/")
    thumbnail = page.locator(f"#incident-{incident.pk} img")
    expect(thumbnail).to_be_visible()
    page.wait_for_function(
        "image => image.complete && image.naturalWidth > 0", arg=thumbnail.element_handle()
    )
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-incidents-{language}-{size}")

    page.locator(f"#incident-{incident.pk} details.add-evidence summary").click()
    page.locator(f"#files-{incident.pk}").set_input_files(
        files=[{"name": "corner.jpg", "mimeType": "image/jpeg", "buffer": small_jpeg("red")}]
    )
    screenshot(page, f"console-incidents-upload-{language}-{size}")
    page.locator(f"#incident-{incident.pk} form.evidence-upload button[type=submit]").click()
    expect(page.locator(".message-success")).to_be_visible()
    expect(page.locator(f"#incident-{incident.pk} img")).to_have_count(2)
    assert violations == []
    context.close()


def test_an_open_upload_form_holds_the_refresh_until_it_is_closed(browser, live_server, dispatcher):
    run = started_run(dispatcher)
    incident = services.incident_report(assignment=run, type="traffic", by=dispatcher)
    context, page, violations = _open_console(browser, live_server, dispatcher, "en", "laptop")
    page.goto(f"{live_server.url}/console/incidents/")
    page.locator(f"#incident-{incident.pk} details.add-evidence summary").click()
    page.locator(f"#files-{incident.pk}").set_input_files(
        files=[{"name": "a.jpg", "mimeType": "image/jpeg", "buffer": small_jpeg()}]
    )
    page.locator("h1").click()  # focus leaves the form: only its being open holds the rows
    later = services.incident_report(assignment=run, type="weather", by=dispatcher)
    page.wait_for_timeout(11_000)  # a refresh was due
    expect(page.locator(f"#incident-{later.pk}")).to_have_count(0)
    assert page.locator(f"#files-{incident.pk}").evaluate("input => input.files.length") == 1
    page.locator(f"#incident-{incident.pk} details.add-evidence summary").click()  # closed
    page.locator(f"#files-{incident.pk}").evaluate("input => { input.value = ''; }")
    expect(page.locator(f"#incident-{later.pk}")).to_have_count(1, timeout=15_000)
    assert violations == []
    context.close()
