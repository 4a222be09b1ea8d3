using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>13. The browser client: a page in Debian's headless Chromium (driven by Playwright) sends a file to a CLI
/// client through the server, and receives one from it, against the same file between two CLI clients in the same run
/// (the baseline, both ways through the same server); and the same browser's WebSocket alone, bytes to and from a bare
/// Kestrel over TLS with nothing else (the bound: what a page can move at all here). Also the page's size and how long
/// it takes until it can chat. Skipped, saying so, where there is no chromium.</summary>
public static class WebBenchmark
{
    private const string Section = "13. the browser client (server process, TLS; page in headless Chromium)";

    /// <summary>Where Debian puts its chromium.</summary>
    private static readonly string[] Chromiums = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"];

    public static async Task Run(Bench bench, long size, int runs)
    {
        var chromium = Chromiums.FirstOrDefault(File.Exists);
        if (chromium is null)
        {
            bench.Report.Add(Section, "skipped: no chromium on this machine (apt-get install chromium)", 0, "");
            return;
        }
        var source = bench.SourceFile(size);
        var sha = Bench.Sha256(source);
        var (server, port) = await bench.StartServer(bench.Dir("web-server"), "--web-port", "0");
        await using var _ = server;
        var url = (await server.WaitFor("web-listening")).GetProperty("url").GetString()!;
        var peerDownloads = bench.Dir("web-peer");
        await using var peer = await bench.StartClient(port, "peer", peerDownloads);
        await using var cli = await bench.StartClient(port, "cli", bench.Dir("web-cli"));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Args = ["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"],
        });
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { IgnoreHTTPSErrors = true, AcceptDownloads = true });
        context.SetDefaultTimeout((float)Bench.LongWait.TotalMilliseconds);
        var page = await context.NewPageAsync();

        // Until the page can chat: from asking for the page to the server's Welcome shown.
        var clock = Stopwatch.StartNew();
        await page.GotoAsync(url);
        var loaded = clock.Elapsed.TotalSeconds;
        await page.FillAsync("#name", "web");
        await page.ClickAsync("#connect");
        await page.WaitForSelectorAsync("#status:text-is('connected as web')");
        var ready = clock.Elapsed.TotalSeconds;
        var bytes = await page.EvaluateAsync<long>(
            "() => performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation')).reduce((n, e) => n + (e.transferSize || 0), 0)");

        var (up, down, cliUp, cliDown) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
        await page.ClickAsync("#online li[data-name=peer]");
        for (var run = 1; run <= runs; run++)
        {
            Console.Error.WriteLine($"web run {run}/{runs}");
            // Page to CLI: from the file picked to the page's row verified.
            var mark = peer.Mark();
            const string verified = "document.querySelectorAll('#transfers li.transfer[data-direction=out][data-state=verified]').length";
            var before = await page.EvaluateAsync<int>($"() => {verified}");
            clock.Restart();
            await page.SetInputFilesAsync("#file-input", source);
            await page.WaitForFunctionAsync($"() => {verified} > {before}");
            up.Add(clock.Elapsed.TotalSeconds);
            var landed = await peer.WaitFor("transfer-completed", after: mark);
            Check(landed.GetProperty("sha256").GetString(), sha, "the page's upload");
            File.Delete(landed.GetProperty("path").GetString()!);

            // CLI to CLI, the same way through the same server (the baseline).
            mark = peer.Mark();
            var cliMark = cli.Mark();
            clock.Restart();
            await cli.SendLine($"/send peer {source}");
            landed = await peer.WaitFor("transfer-completed", after: mark);
            cliUp.Add(clock.Elapsed.TotalSeconds);
            await cli.WaitFor("transfer-completed", after: cliMark);
            File.Delete(landed.GetProperty("path").GetString()!);

            // CLI to page: from the offer accepted to the download's last byte.
            var offered = page.Locator("#transfers li.transfer[data-direction=in][data-state=offered]");
            await peer.SendLine($"/send web {source}");
            await offered.WaitForAsync();
            clock.Restart();
            var download = await page.RunAndWaitForDownloadAsync(() => offered.Locator("button.accept").ClickAsync());
            var saved = Path.Combine(bench.WorkDir, "web-download.bin");
            await download.SaveAsAsync(saved);
            down.Add(clock.Elapsed.TotalSeconds);
            Check(Bench.Sha256(saved), sha, "the page's download");
            File.Delete(saved);
            await download.DeleteAsync();

            // CLI to CLI, the other way (the baseline).
            mark = cli.Mark();
            clock.Restart();
            await peer.SendLine($"/send cli {source}");
            landed = await cli.WaitFor("transfer-completed", after: mark);
            cliDown.Add(clock.Elapsed.TotalSeconds);
            File.Delete(landed.GetProperty("path").GetString()!);
        }

        // The bound: the browser's own WebSocket, 64 KiB messages, nothing read from disk, hashed or written.
        var (boundUp, boundDown) = (new List<double>(), new List<double>());
        await using (var bare = await BareSocketServer.StartAsync(size))
        {
            var boundPage = await context.NewPageAsync();
            await boundPage.GotoAsync(bare.Url);
            for (var run = 1; run <= runs; run++)
            {
                boundUp.Add(await boundPage.EvaluateAsync<double>(BareSocketServer.Upload, size));
                boundDown.Add(await boundPage.EvaluateAsync<double>(BareSocketServer.Download, size));
            }
        }

        var mib = size / 1048576.0;
        double Rate(List<double> seconds) => mib / Stats.Median(seconds);
        var note = $"{Report.Format(mib)} MiB through the server, median of {runs}";
        bench.Report.Add(Section, "page to CLI (upload, hashing included)", Rate(up), "MiB/s", note);
        bench.Report.Add(Section, "CLI to CLI, the same way (baseline)", Rate(cliUp), "MiB/s", note);
        bench.Report.Add(Section, "ratio: the page's upload / the CLI's", Rate(up) / Rate(cliUp), "x", "target >= 0.5");
        bench.Report.Add(Section, "CLI to page (download into the browser's downloads, hashing included)", Rate(down), "MiB/s", note);
        bench.Report.Add(Section, "CLI to CLI, the other way (baseline)", Rate(cliDown), "MiB/s", note);
        bench.Report.Add(Section, "ratio: the page's download / the CLI's", Rate(down) / Rate(cliDown), "x", "target >= 0.5");
        bench.Report.Add(Section, "bound: the browser's WebSocket alone, page to a bare Kestrel (TLS)", Rate(boundUp), "MiB/s",
            $"the page's upload is {Report.Format(Rate(up) / Rate(boundUp))}x of it");
        bench.Report.Add(Section, "bound: the browser's WebSocket alone, a bare Kestrel to the page (TLS)", Rate(boundDown), "MiB/s",
            $"the page's download is {Report.Format(Rate(down) / Rate(boundDown))}x of it");
        bench.Report.Add(Section, "the page's transfer size (document, script, style, service worker)", bytes / 1024.0, "KiB", "as the browser counted it, uncompressed");
        bench.Report.Add(Section, "time until the page is loaded / until it can chat", loaded, "s", $"until it can chat (signed in): {Report.Format(ready)} s");
    }

    private static void Check(string? actual, string expected, string what)
    {
        if (actual != expected) throw new InvalidOperationException($"{what}: SHA-256 {actual}, expected {expected}");
    }

    /// <summary>A bare Kestrel on 127.0.0.1 over TLS (a certificate made here) with two WebSockets: /sink takes bytes and
    /// says when it has them all, /source sends them. Its page is empty: the benchmark runs the script itself.</summary>
    private sealed class BareSocketServer : IAsyncDisposable
    {
        public const string Upload = """
            async (n) => {
              const ws = new WebSocket(location.origin.replace('https', 'wss') + '/sink');
              ws.binaryType = 'arraybuffer';
              await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
              const block = new Uint8Array(65536);
              crypto.getRandomValues(block);
              const done = new Promise(ok => ws.onmessage = ok);
              const start = performance.now();
              for (let sent = 0; sent < n; sent += block.length) {
                while (ws.bufferedAmount > 2 * 1048576) await new Promise(ok => setTimeout(ok, 1));
                ws.send(block);
              }
              await done;
              ws.close();
              return (performance.now() - start) / 1000;
            }
            """;

        public const string Download = """
            async (n) => {
              const ws = new WebSocket(location.origin.replace('https', 'wss') + '/source');
              ws.binaryType = 'arraybuffer';
              const start = performance.now();
              let got = 0;
              await new Promise((ok, fail) => {
                ws.onmessage = m => { got += m.data.byteLength; if (got >= n) ok(); };
                ws.onerror = fail;
              });
              const seconds = (performance.now() - start) / 1000;
              ws.close();
              return seconds;
            }
            """;

        private readonly WebApplication _app;

        private BareSocketServer(WebApplication app, string url)
        {
            _app = app;
            Url = url;
        }

        public string Url { get; }

        public static async Task<BareSocketServer> StartAsync(long size)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            var builder = WebApplication.CreateSlimBuilder();
            builder.Configuration.Sources.Clear();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
            var app = builder.Build();
            app.UseWebSockets();
            app.Run(async context =>
            {
                if (!context.WebSockets.IsWebSocketRequest)
                {
                    context.Response.ContentType = "text/html";
                    await context.Response.WriteAsync("<!doctype html><title>bound</title>");
                    return;
                }
                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[64 * 1024];
                if (context.Request.Path == "/sink")
                {
                    for (long got = 0; got < size;)
                    {
                        var result = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                        if (result.MessageType == WebSocketMessageType.Close) return;
                        got += result.Count;
                    }
                    await socket.SendAsync(buffer.AsMemory(0, 1), WebSocketMessageType.Binary, true, CancellationToken.None);
                }
                else
                {
                    RandomNumberGenerator.Fill(buffer);
                    for (long sent = 0; sent < size; sent += buffer.Length)
                        await socket.SendAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, size - sent)), WebSocketMessageType.Binary, true, CancellationToken.None);
                }
                try
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                }
                catch (WebSocketException)
                {
                    // the page closed first
                }
            });
            await app.StartAsync();
            var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new BareSocketServer(app, url + "/");
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
