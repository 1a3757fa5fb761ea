using System.Collections.Concurrent;
using HikShareCloud.Service.Accounts;

namespace HikShareCloud.Service.Tests.Infrastructure;

/// <summary>Keeps the codes the service sends, for tests that are not about delivery itself (the SMTP test is).</summary>
public sealed class RecordingSender : IVerificationSender
{
    public ConcurrentDictionary<string, string> LastCode { get; } = new();

    public Task SendAsync(string address, string code, CancellationToken ct)
    {
        LastCode[address] = code;
        return Task.CompletedTask;
    }
}
