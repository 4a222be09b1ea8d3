using Microsoft.Playwright;

namespace AkkaTcpTransfer.Cli.Tests.Web;

/// <summary>One headless Chromium for the web client's tests (starting one costs seconds): Debian's, driven by
/// Playwright through <c>ExecutablePath</c>, so that nothing downloads a browser. Each test takes contexts of its own.
/// Absent (no chromium on the machine): the tests say they were skipped.</summary>
public sealed class Browser : IAsyncLifetime
{
    private static readonly string[] Candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium"];

    private IPlaywright? _playwright;

    public IBrowser? Chromium { get; private set; }

    /// <summary>Why there is no browser, when there is none.</summary>
    public string? Missing { get; private set; }

    /// <summary>Where each test's screenshots go (kept as artifacts of the run).</summary>
    public static string Screenshots { get; } = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "web-screenshots")).FullName;

    public async Task InitializeAsync()
    {
        var executable = Candidates.FirstOrDefault(File.Exists);
        if (executable is null)
        {
            Missing = "no chromium on this machine (.ci/run installs Debian's)";
            return;
        }
        _playwright = await Playwright.CreateAsync();
        Chromium = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = executable,
            Headless = true,
            Args = ["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Chromium is not null) await Chromium.CloseAsync();
        _playwright?.Dispose();
    }

    /// <summary>A fresh profile (its own storage, so its own resume key): one person in one browser. The server's
    /// certificate is its self-signed own, which a person accepts once in the browser; here the context does.</summary>
    public async Task<IPage> NewPersonAsync()
    {
        var context = await Chromium!.NewContextAsync(new BrowserNewContextOptions
        {
            IgnoreHTTPSErrors = true,
            AcceptDownloads = true,
            ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
        });
        context.SetDefaultTimeout(30_000);
        return await context.NewPageAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<Browser>
{
    public const string Name = "browser";
}
