# Llave — English messages.

skip-to-content = Skip to content
nav-label = Main menu
switch-language = Español
footer = Llave: your digital identity for the city's procedures.
home-link = Go to the home page
home-title = Llave
home-intro = One account, based on your CURP, signs you in to the city's procedure and service websites.
home-welcome-back = Hello, { $name }.
account-link = My account
signin-button = Sign in
signup-button = Create account
signout-button = Sign out
errors-heading = Please check the following:

signup-title = Create your Llave account
signup-intro = Enter your details exactly as they appear on your CURP.
signup-have-account = Already have an account?
signup-done-title = Check your e-mail
signup-done-check-mail = Your account is ready. We sent a link to { $email } to confirm your e-mail address.
signup-done-mail-failed = Your account is ready, but we could not send the confirmation e-mail to { $email }. Sign in and ask us to send it again.

field-curp = CURP
field-curp-hint = 18 characters, for example GOMC800101HDFRRL09.
field-given-names = Given name(s)
field-first-surname = First surname
field-second-surname = Second surname
field-second-surname-hint = Leave it empty if you have no second surname.
field-birth-date = Date of birth
field-birth-date-hint = Year, month and day: YYYY-MM-DD.
field-email = E-mail address
field-password = Password
field-new-password = New password
field-current-password = Current password
field-new-password-hint = At least 8 characters. A long phrase you can remember is a good idea.
field-identifier = CURP or e-mail address

field-required = This is required.
field-too-long = This is too long (at most { $max } characters).
name-invalid = Use only letters, spaces, hyphens, periods or apostrophes.
email-invalid = Enter a valid e-mail address, like name@example.com.
email-taken = There is already an account with this e-mail address.
birth-date-invalid = Enter a real date as YYYY-MM-DD.
sex-invalid = Sex must be H, M or X.
state-invalid = The state of birth is not a valid code.

curp-length = A CURP has 18 characters; you entered { $found }.
curp-alphabet = Character { $position } of the CURP ("{ $found }") is not valid in that position.
curp-name-letters = Character { $position } of the CURP does not fit the name letters.
curp-internal-consonants = Character { $position } of the CURP must be a consonant.
curp-date = The date of birth inside the CURP does not exist.
curp-sex = Character 11 of the CURP must be H, M or X; it is "{ $found }".
curp-state = "{ $found }" is not a Mexican state code.
curp-differentiator = Character 17 of the CURP must be a letter or a digit.
curp-check-digit = The check digit (last character) does not match: check that you copied your CURP correctly.
curp-mismatch-names = Your names do not match the CURP (we expected { $expected }; the CURP has { $found }).
curp-mismatch-consonants = Your names do not match the CURP (consonants { $expected }; the CURP has { $found }).
curp-mismatch-birth-date = The date of birth does not match your CURP.
curp-mismatch-sex = The sex does not match the CURP.
curp-mismatch-state = The state of birth does not match the CURP.
curp-taken = There is already a Llave account for this CURP. Sign in or recover your password.
registry-unknown-curp = The population registry does not know this CURP. Check that it is written correctly.
registry-mismatch = This does not match the population registry's record for your CURP.
registry-unavailable = We could not reach the population registry. Please try again in a few minutes.

password-empty = Enter a password.
password-too-short = The password must have at least 8 characters.
password-too-long = The password can have up to 256 characters.
password-common = That password is very common and easy to guess. Choose another.
password-personal = The password must not contain your CURP, your name or your e-mail.
password-current-wrong = The current password is not correct.

signin-title = Sign in to Llave
signin-missing = Enter your CURP or e-mail address and your password.
signin-invalid = The CURP, e-mail or password is not correct.
signin-throttled = Too many attempts. Wait a few minutes and try again.
signin-no-account = No account yet?
signed-out = You have signed out.
forgot-link = I forgot my password

confirm-done-title = E-mail confirmed
confirm-done = Your e-mail address is confirmed. You can sign in now.
confirm-already = Your e-mail address was already confirmed.
link-refused-title = This link does not work
link-used = This link has already been used. Each link works once.
link-expired = This link has expired. Ask for a new one.
link-unknown = This link is not valid. Check that you copied all of it.

account-title = My account
account-you = Your details
account-name = Name
account-birth-state = State of birth
email-confirmed = confirmed
email-unconfirmed = not confirmed
resend-confirmation = Send the confirmation e-mail again
confirmation-resent = We sent the confirmation e-mail again.
sessions-title = Open sessions
sessions-started = Started
sessions-last-seen = Last active
sessions-device = Address and browser
sessions-action = Action
sessions-this-one = this session
sessions-end = End session
session-ended = That session has ended.
password-change-title = Change password
password-change-button = Change password
password-changed = Your password changed and your other sessions have ended.

forgot-title = Recover your password
forgot-intro = Enter your CURP or your e-mail address. If there is an account, we will send a link to choose a new password.
forgot-button = Send link
forgot-done-title = Check your e-mail
forgot-done = If there is an account with those details, we sent a link to choose a new password. It expires in 30 minutes.
reset-title = Choose a new password
reset-button = Save password
reset-done-title = Password changed
reset-done = Your new password is saved and all your sessions have ended. You can sign in now.

mail-confirm-subject = Confirm your Llave e-mail
mail-confirm-body =
    Hello,

    To confirm your e-mail address for Llave, open this link (it expires in 24 hours):

    { $link }

    If you did not create a Llave account, ignore this message.
mail-reset-subject = Recover your Llave password
mail-reset-body =
    Hello,

    To choose a new Llave password, open this link (it expires in 30 minutes and works once):

    { $link }

    If you did not ask for this, ignore this message: your password stays the same.

outbox-title = Development outbox
outbox-intro = The e-mails Llave would send. Shown only when Llave runs on this computer without a mail server.
outbox-empty = No e-mails yet.

error-status = Code
error-internal-title = Something went wrong
error-internal = We had a problem. Nothing you had already saved was lost; please try again in a moment.
error-not-found-title = Page not found
error-not-found = We could not find this page.
error-csrf-title = The form expired
error-csrf = For your security, the form is no longer valid. Go back, reload the page and try again.
error-too-large-title = Too much data
error-too-large = What you sent is too large.
error-bad-request-title = Invalid request
error-bad-request = We could not read what you sent.

oidc-error-title = We cannot continue
oidc-error-request = The site that sent you here made a request we do not understand. Go back to that site and try again.
oidc-error-client = The site that sent you here is not registered with Llave, or has been suspended.
oidc-error-redirect-uri = The site that sent you here asked to return to an address it has not registered. For your safety we are not sending you there.
consent-title = Share your data
consent-heading = { $entity } wants to use your Llave account
consent-intro = The site "{ $client }" of { $entity } will receive:
consent-item-sub = an identifier for you that only this entity knows
consent-item-profile = your name and date of birth
consent-item-email = your e-mail address
consent-item-phone = your phone number
consent-item-offline = access while you stay signed in on that site
consent-item-curp = your CURP
consent-remember = We will remember your answer for this site. You can withdraw it at any time from My account.
consent-allow = Allow
consent-deny = Do not allow
form-post-title = Returning
form-post-text = We are taking you back to the site you came from.
form-post-button = Continue
signin-again = For your security, the site you came from asks you to sign in again.
oidc-error-request-uri = The request you bring has expired or was already used. Go back to the site you came from and try again.
oidc-error-logout = We could not understand the request to sign you out, or it asks to return to an address the site has not registered.
logout-title = Sign out of Llave?
logout-intro = You will be signed out of Llave and of the government sites you entered with it.
logout-stay = No, stay signed in

connections-title = Sites where you use Llave
connections-none = You have not signed in to any site with your Llave account yet.
connections-last-sign-in = Last signed in
connections-receives = Receives
connections-since = since
connections-withdraw = Withdraw permission
connections-withdrawn = No standing permission: it will ask you again next time.
consent-withdrawn = Permission withdrawn. That site can no longer use your data and will have to ask you again.

catalog-title = Procedures and services
catalog-search-label = Search for a procedure or service
catalog-search-button = Search
catalog-results-for = Results for “{ $query }”
catalog-topic = Topic: { $topic }
catalog-most-requested = Most requested
catalog-nothing-found = No procedures match those words. Try others or browse by topic.
catalog-online = Online
catalog-all = See all procedures
catalog-by-topic = By topic
catalog-by-entity = By government body
catalog-open-data = Open data of the catalog:
catalog-start-at = Start on the { $entity } website
catalog-requirements = What you need
catalog-no-requirements = You need no documents.
catalog-stage-application = when applying
catalog-stage-review = during the review
catalog-stage-delivery = when receiving the result
catalog-facts = About this procedure
catalog-who = Who may apply
catalog-cost = Cost
catalog-free = Free
catalog-deadline = Response time
catalog-validity = Valid for
catalog-level = Llave level needed
catalog-level-1 = Llave with a confirmed e-mail
catalog-level-2 = Llave Verificada (identity checked)
catalog-level-3 = Llave Verificada and a fresh check at the moment of the procedure
catalog-variants = Types
catalog-steps = Steps
catalog-offices = Where to do it in person
catalog-legal-basis = Legal basis
catalog-no-legal-basis = No legal basis recorded.

error-forbidden-title = Not allowed
error-forbidden = Your account is not allowed to see or change this.
catalog-edit-title = Edit the catalog
catalog-edit-new = New procedure
catalog-edit-saved = Saved: { $slug }
catalog-edit-name = Name
catalog-edit-entity = Government body
catalog-edit-status = Status
catalog-edit-slug = Identifier
catalog-edit-slug-hint = Lower-case letters, digits and hyphens; it appears in the page's address.
catalog-edit-description = Description in plain language
catalog-edit-requirements-hint = One per line: kind | stage (application, review or delivery) | description
catalog-edit-kinds = Requirement kinds
catalog-edit-legal-hint = One per line: law | article | web address
catalog-edit-one-per-line = One per line.
catalog-edit-cost-amount = Amount in pesos
catalog-edit-cost-rule = Cost rule
catalog-edit-variants-hint = One per line: code | name
catalog-edit-online-url = Address to start online
catalog-edit-volume = Applications a year
catalog-edit-tags = Topics
catalog-edit-tags-hint = Separated by commas.
catalog-edit-save = Save
catalog-edit-history = History of changes
catalog-edit-line = This line does not have the expected parts: { $line }
catalog-edit-number = Write a number.
catalog-edit-slug-taken = There is already a procedure with this identifier.
catalog-edit-name-taken = This body already has a procedure with this name.
catalog-report-title = Simplification report
catalog-report-total = Citizen-hours saved a year if every suggestion were adopted: { $hours }.
catalog-report-hours = { $hours } hours a year
catalog-level-how-1 = Create your Llave account and confirm your e-mail address.
catalog-level-how-2 = Have your identity checked: at a service centre with an official ID, or online.
catalog-level-how-3 = With Llave Verificada, confirm it is you when you do the procedure (passkey or a fresh check).
catalog-edit-result-kind = Document it issues
catalog-edit-result-kind-hint = If the result is a document, its kind (for example birth_certificate); otherwise leave it empty.
