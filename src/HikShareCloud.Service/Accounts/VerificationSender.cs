using System.Net.Http.Json;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace HikShareCloud.Service.Accounts;

/// <summary>Delivers a one-time code to an account's address (e-mail or phone).</summary>
public interface IVerificationSender
{
    Task SendAsync(string address, string code, CancellationToken ct);
}

/// <summary>SMTP through MailKit for e-mail addresses, an HTTP webhook for phone numbers.</summary>
public sealed class VerificationSender(SmtpOptions? smtp, Uri? smsWebhook, HttpClient? http = null) : IVerificationSender
{
    public async Task SendAsync(string address, string code, CancellationToken ct)
    {
        if (address.StartsWith('+'))
        {
            if (smsWebhook is null)
            {
                throw ServiceException.BadRequest("no-sms", "this service has no SMS webhook configured; sign up with an e-mail address");
            }
            // The webhook receives {"to": "+E164", "text": "..."}; the SMS gateway behind it is the operator's.
            using var response = await (http ?? SharedHttp).PostAsJsonAsync(smsWebhook, new { to = address, text = $"HikShare code: {code}" }, ct);
            response.EnsureSuccessStatusCode();
            return;
        }
        if (smtp is null)
        {
            throw ServiceException.BadRequest("no-smtp", "this service has no SMTP server configured; sign up with a phone number");
        }
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(smtp.From));
        message.To.Add(MailboxAddress.Parse(address));
        message.Subject = "Your HikShare verification code";
        message.Body = new TextPart("plain") { Text = $"Your HikShare verification code is {code}.\nIt expires in a few minutes. If you did not sign up, ignore this message.\n" };
        using var client = new SmtpClient();
        await client.ConnectAsync(smtp.Host, smtp.Port, smtp.Tls ? SecureSocketOptions.StartTls : SecureSocketOptions.None, ct);
        if (smtp.Username is not null)
        {
            await client.AuthenticateAsync(smtp.Username, smtp.Password ?? "", ct);
        }
        await client.SendAsync(message, ct);
        await client.DisconnectAsync(true, ct);
    }

    private static readonly HttpClient SharedHttp = new() { Timeout = TimeSpan.FromSeconds(10) };
}
