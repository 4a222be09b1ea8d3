using System.Globalization;
using System.Security.Cryptography;
using AkkaTcpTransfer.Benchmarks;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AkkaTcpTransfer.Cli.Tests.Web;

/// <summary>The browser client in a real browser (Debian's headless Chromium), served by a real server process, with a
/// real CLI client on the other side: two pages and a terminal chat, send and receive files, and a hostile peer's name
/// and words stay text. Each step leaves a screenshot in the test output's web-screenshots folder.</summary>
[Collection(BrowserCollection.Name)]
public sealed class WebClientTests(Browser browser)
{
    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static async Task<(JsonEventProcess Server, int Port, string Url)> StartServer(params string[] extra)
    {
        var server = CliProcess.Start(["server", "--port", "0", "--web-port", "0", "--json", .. extra]);
        var port = await server.Listening();
        var web = await server.WaitFor("web-listening");
        return (server, port, web.GetProperty("url").GetString()!);
    }

    private static async Task SignIn(IPage page, string url, string name, string token = "", bool expectIn = true)
    {
        if (page.Url != url) await page.GotoAsync(url);
        await page.FillAsync("#name", name);
        await page.FillAsync("#token", token);
        await page.ClickAsync("#connect");
        if (expectIn) await Expect(page.Locator("#status")).ToHaveTextAsync($"connected as {name}");
    }

    private static async Task Say(IPage page, string text)
    {
        await page.FillAsync("#input", text);
        await page.PressAsync("#input", "Enter");
    }

    private static ILocator Line(IPage page, string from, string text) =>
        page.Locator($"#messages li.msg[data-from=\"{from}\"] .text", new() { HasTextString = text });

    private static async Task Shot(IPage page, string test, string step) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Browser.Screenshots, $"{test}-{step}.png"), FullPage = true });

    [SkippableFact]
    public async Task Two_pages_and_a_terminal_chat_every_way_and_the_history_is_back_after_a_reload()
    {
        Skip.If(browser.Chromium is null, browser.Missing);
        var (server, port, url) = await StartServer();
        await using var _ = server;
        var alice = await browser.NewPersonAsync();
        var carol = await browser.NewPersonAsync();
        await SignIn(alice, url, "alice");
        await SignIn(carol, url, "carol");
        await using var bob = CliProcess.Client(server, port, "--name", "bob", "--json");
        await bob.WaitFor("connected");
        await Expect(alice.Locator("#online li[data-name=bob]")).ToBeVisibleAsync();

        // Browser to everyone: the terminal and the other page hear it.
        await Say(alice, "hello from a browser");
        var heard = await bob.WaitFor("chat", e => e.GetProperty("text").GetString() == "hello from a browser");
        Assert.Equal("alice", heard.GetProperty("from").GetString());
        await Expect(Line(carol, "alice", "hello from a browser")).ToBeVisibleAsync();
        // ...and the sender's own line is confirmed by the server (no longer pending).
        await Expect(alice.Locator("#messages li.msg.pending")).ToHaveCountAsync(0);

        // Terminal to everyone: both pages.
        await bob.SendLine("hello from the terminal");
        await Expect(Line(alice, "bob", "hello from the terminal")).ToBeVisibleAsync();
        await Expect(Line(carol, "bob", "hello from the terminal")).ToBeVisibleAsync();
        await Shot(carol, "chat", "1-everyone");

        // Page to page, directly: carol gets a conversation with alice.
        await alice.ClickAsync("#online li[data-name=carol]");
        await Say(alice, "just for carol");
        await carol.ClickAsync("#conversations li[data-conv=alice]");
        await Expect(Line(carol, "alice", "just for carol")).ToBeVisibleAsync();
        // Terminal to page, directly.
        await bob.SendLine("/msg carol and one from bob");
        await carol.ClickAsync("#conversations li[data-conv=bob]");
        await Expect(Line(carol, "bob", "and one from bob")).ToBeVisibleAsync();
        await Shot(carol, "chat", "2-direct");

        // A reload: the page signs in again under the name it kept, and the room's history comes back as history.
        await alice.ReloadAsync();
        await Expect(alice.Locator("#name")).ToHaveValueAsync("alice");
        await SignIn(alice, url, "alice");
        await alice.ClickAsync("#conversations li[data-conv='*']");
        await Expect(alice.Locator("#messages li.msg.history[data-from=bob] .text", new() { HasTextString = "hello from the terminal" })).ToBeVisibleAsync();
        await Expect(alice.Locator("#messages li.msg.history[data-from=alice] .text", new() { HasTextString = "hello from a browser" })).ToBeVisibleAsync();
        await Shot(alice, "chat", "3-history-after-reload");
    }

    [SkippableFact]
    public async Task A_50_MiB_file_goes_from_a_page_to_the_terminal_and_back_with_progress_and_matching_sha256()
    {
        Skip.If(browser.Chromium is null, browser.Missing);
        var folder = Directory.CreateTempSubdirectory("att-web-files-").FullName;
        var source = Path.Combine(folder, "fifty.bin");
        var bytes = new byte[50 << 20];
        new Random(25).NextBytes(bytes);
        await File.WriteAllBytesAsync(source, bytes);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));

        var (server, port, url) = await StartServer();
        await using var _ = server;
        var alice = await browser.NewPersonAsync();
        await SignIn(alice, url, "alice");
        var bobDownloads = Path.Combine(folder, "bob");
        await using var bob = CliProcess.Client(server, port, "--name", "bob", "--json", "--yes", "--downloads", bobDownloads);
        await bob.WaitFor("connected");

        // Page to terminal: picked in the page, for the person whose conversation is open.
        await alice.ClickAsync("#online li[data-name=bob]");
        await alice.SetInputFilesAsync("#file-input", source);
        var outgoing = alice.Locator("#transfers li.transfer[data-direction=out]");
        // Progress shows while the bytes move (neither empty nor full).
        await alice.WaitForFunctionAsync(
            "() => { const p = document.querySelector('#transfers li.transfer[data-direction=out] progress'); return p && p.value > 0 && p.value < p.max; }");
        await Shot(alice, "files", "1-sending");
        await Expect(outgoing).ToHaveAttributeAsync("data-state", "verified", new() { Timeout = 120_000 });
        await Expect(outgoing).ToHaveAttributeAsync("data-sha256", sha);
        var landed = await bob.WaitFor("transfer-completed", e => e.GetProperty("file").GetString() == "fifty.bin");
        Assert.Equal(sha, landed.GetProperty("sha256").GetString());
        Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(landed.GetProperty("path").GetString()!))));

        // Terminal to page: offered, accepted by a click, streamed into a download.
        await bob.SendLine($"/send alice {source}");
        var incoming = alice.Locator("#transfers li.transfer[data-direction=in]");
        await Expect(incoming).ToHaveAttributeAsync("data-state", "offered");
        await Shot(alice, "files", "2-offered");
        var download = await alice.RunAndWaitForDownloadAsync(() => incoming.Locator("button.accept").ClickAsync());
        await alice.WaitForFunctionAsync(
            "() => { const p = document.querySelector('#transfers li.transfer[data-direction=in] progress'); return p && p.value > 0; }");
        await Shot(alice, "files", "3-receiving");
        var saved = Path.Combine(folder, "alice-got.bin");
        await download.SaveAsAsync(saved);
        await Expect(incoming).ToHaveAttributeAsync("data-state", "verified", new() { Timeout = 120_000 });
        Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(saved))));
        Assert.Equal("fifty.bin", download.SuggestedFilename);
        await Shot(alice, "files", "4-verified");
        Directory.Delete(folder, recursive: true);
    }

    [SkippableFact]
    public async Task A_hostile_name_and_hostile_words_are_shown_as_text()
    {
        Skip.If(browser.Chromium is null, browser.Missing);
        var (server, port, url) = await StartServer();
        await using var _ = server;
        var alice = await browser.NewPersonAsync();
        await SignIn(alice, url, "alice");
        // A name may hold < and > (not quotes, slashes or spaces); a line may hold anything.
        const string name = "<b>mallory<i>";
        await using var mallory = CliProcess.Client(server, port, "--name", name, "--json");
        await mallory.WaitFor("connected");
        var words = "<img src=x onerror=document.title='pwned'><script>document.title='pwned'</script> \u202Egnp.exe "
            + new string('W', 3000);
        await mallory.SendLine(words);

        var person = alice.Locator($"#online li[data-name=\"{name}\"]");
        await Expect(person).ToContainTextAsync(name);
        await Expect(alice.Locator("#online b, #online i, #messages img, #messages script, #messages b")).ToHaveCountAsync(0);
        var line = alice.Locator("#messages li.msg .text").Last;
        await Expect(line).ToContainTextAsync("gnp.exe");
        Assert.Equal(words, await line.TextContentAsync());
        Assert.DoesNotContain("pwned", await alice.TitleAsync(), StringComparison.Ordinal);
        // The sender's name and the words are isolated for direction: a right-to-left override inside cannot turn the
        // text around them.
        Assert.Equal("BDI", await alice.Locator("#messages li.msg .from").Last.EvaluateAsync<string>("e => e.closest('bdi') ? 'BDI' : e.tagName"));
        Assert.Equal("BDI", await line.EvaluateAsync<string>("e => e.closest('bdi') ? 'BDI' : e.tagName"));
        // A very long word wraps inside the page instead of widening it.
        Assert.True(await alice.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), "the page grew wider than the window");
        await Shot(alice, "hostile", "1-as-text");
    }

    [SkippableFact]
    public async Task A_wrong_token_is_shown_as_an_error_and_the_right_one_gets_in()
    {
        Skip.If(browser.Chromium is null, browser.Missing);
        var (server, _, url) = await StartServer("--token", "s3cret-token");
        await using var _ = server;
        var page = await browser.NewPersonAsync();
        await SignIn(page, url, "alice", "not-the-token", expectIn: false);
        await Expect(page.Locator("#login-error")).ToContainTextAsync("token");
        await Expect(page.Locator("#app")).ToBeHiddenAsync();
        await Shot(page, "token", "1-refused");
        // The address waits a moment after a wrong token (as for any client): the page says so, then lets it in.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            await SignIn(page, url, "alice", "s3cret-token", expectIn: false);
            var status = page.Locator("#status");
            try
            {
                await Expect(status).ToHaveTextAsync("connected as alice", new() { Timeout = 3_000 });
                break;
            }
            catch (PlaywrightException) when (DateTime.UtcNow < deadline)
            {
                await Expect(page.Locator("#login-error")).ToContainTextAsync("try again in");
            }
        }
    }
}
