# Llave — mensajes en español de México (idioma principal).

skip-to-content = Ir al contenido
nav-label = Menú principal
switch-language = English
footer = Llave: tu identidad digital para los trámites de la ciudad.
home-link = Ir al inicio
home-title = Llave
home-intro = Con una sola cuenta, basada en tu CURP, entras a los sitios de trámites y servicios de la ciudad.
home-welcome-back = Hola, { $name }.
account-link = Mi cuenta
signin-button = Iniciar sesión
signup-button = Crear cuenta
signout-button = Cerrar sesión
errors-heading = Revisa lo siguiente:

signup-title = Crear tu cuenta Llave
signup-intro = Escribe tus datos tal como aparecen en tu CURP.
signup-have-account = ¿Ya tienes cuenta?
signup-done-title = Revisa tu correo
signup-done-check-mail = Creamos tu cuenta. Te enviamos un enlace a { $email } para confirmar tu correo electrónico.
signup-done-mail-failed = Creamos tu cuenta, pero no pudimos enviar el correo de confirmación a { $email }. Inicia sesión y pide que te lo enviemos de nuevo.

field-curp = CURP
field-curp-hint = 18 caracteres, por ejemplo GOMC800101HDFRRL09.
field-given-names = Nombre(s)
field-first-surname = Primer apellido
field-second-surname = Segundo apellido
field-second-surname-hint = Déjalo vacío si no tienes segundo apellido.
field-birth-date = Fecha de nacimiento
field-birth-date-hint = Año, mes y día: AAAA-MM-DD.
field-email = Correo electrónico
field-password = Contraseña
field-new-password = Nueva contraseña
field-current-password = Contraseña actual
field-new-password-hint = Al menos 8 caracteres. Una frase larga y fácil de recordar es buena idea.
field-identifier = CURP o correo electrónico

field-required = Este dato es obligatorio.
field-too-long = Es demasiado largo (máximo { $max } caracteres).
name-invalid = Usa solo letras, espacios, guiones, puntos o apóstrofos.
email-invalid = Escribe un correo electrónico válido, como nombre@ejemplo.mx.
email-taken = Ya hay una cuenta con este correo electrónico.
birth-date-invalid = Escribe una fecha real con el formato AAAA-MM-DD.
sex-invalid = El sexo debe ser H, M o X.
state-invalid = La entidad de nacimiento no es un código válido.

curp-length = La CURP tiene 18 caracteres; escribiste { $found }.
curp-alphabet = El carácter { $position } de la CURP («{ $found }») no es válido en esa posición.
curp-name-letters = El carácter { $position } de la CURP no corresponde a las letras del nombre.
curp-internal-consonants = El carácter { $position } de la CURP debe ser una consonante.
curp-date = La fecha de nacimiento dentro de la CURP no existe.
curp-sex = El carácter 11 de la CURP debe ser H, M o X; dice «{ $found }».
curp-state = «{ $found }» no es una clave de entidad federativa.
curp-differentiator = El carácter 17 de la CURP debe ser una letra o un número.
curp-check-digit = El dígito verificador (último carácter) no corresponde: revisa que hayas copiado bien tu CURP.
curp-mismatch-names = Tu nombre y apellidos no corresponden a la CURP (esperábamos { $expected } y la CURP dice { $found }).
curp-mismatch-consonants = Tu nombre y apellidos no corresponden a la CURP (consonantes { $expected }; la CURP dice { $found }).
curp-mismatch-birth-date = La fecha de nacimiento no coincide con la de tu CURP.
curp-mismatch-sex = El sexo no coincide con el de la CURP.
curp-mismatch-state = La entidad de nacimiento no coincide con la de la CURP.
curp-taken = Ya existe una cuenta Llave con esta CURP. Inicia sesión o recupera tu contraseña.
registry-unknown-curp = El Registro de Población no tiene esta CURP. Revisa que esté bien escrita.
registry-mismatch = Este dato no coincide con el Registro de Población para tu CURP.
registry-unavailable = No pudimos consultar el Registro de Población. Intenta de nuevo en unos minutos.

password-empty = Escribe una contraseña.
password-too-short = La contraseña debe tener al menos 8 caracteres.
password-too-long = La contraseña puede tener hasta 256 caracteres.
password-common = Esa contraseña es muy común y fácil de adivinar. Elige otra.
password-personal = La contraseña no debe contener tu CURP, tu nombre ni tu correo.
password-current-wrong = La contraseña actual no es correcta.

signin-title = Iniciar sesión en Llave
signin-missing = Escribe tu CURP o correo electrónico y tu contraseña.
signin-invalid = La CURP, el correo o la contraseña no son correctos.
signin-throttled = Demasiados intentos. Espera unos minutos e intenta de nuevo.
signin-no-account = ¿No tienes cuenta?
signed-out = Cerraste tu sesión.
forgot-link = Olvidé mi contraseña

confirm-done-title = Correo confirmado
confirm-done = Confirmamos tu correo electrónico. Ya puedes iniciar sesión.
confirm-already = Tu correo electrónico ya estaba confirmado.
link-refused-title = Este enlace no funciona
link-used = Este enlace ya se usó. Cada enlace sirve una sola vez.
link-expired = Este enlace ya venció. Pide uno nuevo.
link-unknown = Este enlace no es válido. Revisa que lo hayas copiado completo.

account-title = Mi cuenta
account-you = Tus datos
account-name = Nombre
account-birth-state = Entidad de nacimiento
email-confirmed = confirmado
email-unconfirmed = sin confirmar
resend-confirmation = Enviar de nuevo el correo de confirmación
confirmation-resent = Te enviamos de nuevo el correo de confirmación.
sessions-title = Sesiones abiertas
sessions-started = Inicio
sessions-last-seen = Última actividad
sessions-device = Dirección y navegador
sessions-action = Acción
sessions-this-one = esta sesión
sessions-end = Terminar
session-ended = Terminamos esa sesión.
password-change-title = Cambiar contraseña
password-change-button = Cambiar contraseña
password-changed = Cambiamos tu contraseña y cerramos tus otras sesiones.

forgot-title = Recuperar tu contraseña
forgot-intro = Escribe tu CURP o tu correo electrónico. Si hay una cuenta, te enviaremos un enlace para elegir una contraseña nueva.
forgot-button = Enviar enlace
forgot-done-title = Revisa tu correo
forgot-done = Si hay una cuenta con esos datos, te enviamos un enlace para elegir una contraseña nueva. Vence en 30 minutos.
reset-title = Elige una contraseña nueva
reset-button = Guardar contraseña
reset-done-title = Contraseña cambiada
reset-done = Guardamos tu contraseña nueva y cerramos todas tus sesiones. Ya puedes iniciar sesión.

mail-confirm-subject = Confirma tu correo de Llave
mail-confirm-body =
    Hola:

    Para confirmar tu correo electrónico en Llave, abre este enlace (vence en 24 horas):

    { $link }

    Si no creaste una cuenta Llave, ignora este mensaje.
mail-reset-subject = Recupera tu contraseña de Llave
mail-reset-body =
    Hola:

    Para elegir una contraseña nueva en Llave, abre este enlace (vence en 30 minutos y sirve una sola vez):

    { $link }

    Si no lo pediste, ignora este mensaje: tu contraseña no cambia.

outbox-title = Buzón de desarrollo
outbox-intro = Los correos que Llave enviaría. Solo aparece cuando Llave corre en esta computadora sin servidor de correo.
outbox-empty = Todavía no hay correos.

error-status = Código
error-internal-title = Algo salió mal
error-internal = Tuvimos un problema. No se perdió nada de lo que ya habías guardado; intenta de nuevo en un momento.
error-not-found-title = Página no encontrada
error-not-found = No encontramos esta página.
error-csrf-title = El formulario venció
error-csrf = Por tu seguridad, el formulario ya no es válido. Regresa, recarga la página e intenta de nuevo.
error-too-large-title = Demasiados datos
error-too-large = Lo que enviaste es demasiado grande.
error-bad-request-title = Solicitud no válida
error-bad-request = No pudimos leer lo que enviaste.

oidc-error-title = No podemos continuar
oidc-error-request = El sitio que te envió aquí hizo una solicitud que no entendemos. Regresa a ese sitio e intenta de nuevo.
oidc-error-client = El sitio que te envió aquí no está registrado en Llave o fue suspendido.
oidc-error-redirect-uri = El sitio que te envió aquí pidió regresar a una dirección que no tiene registrada. Por tu seguridad no te enviamos ahí.
consent-title = Compartir tus datos
consent-heading = { $entity } quiere usar tu cuenta Llave
consent-intro = El sitio «{ $client }» de { $entity } recibirá:
consent-item-sub = un identificador tuyo que solo conoce esta dependencia
consent-item-profile = tu nombre y tu fecha de nacimiento
consent-item-email = tu correo electrónico
consent-item-phone = tu teléfono
consent-item-offline = acceso mientras no cierres la sesión en ese sitio
consent-item-curp = tu CURP
consent-remember = Recordaremos tu respuesta para este sitio. Puedes retirarla cuando quieras desde Mi cuenta.
consent-allow = Permitir
consent-deny = No permitir
form-post-title = Regresando
form-post-text = Te estamos regresando al sitio del que llegaste.
form-post-button = Continuar
signin-again = Por tu seguridad, el sitio del que vienes pide que inicies sesión de nuevo.
oidc-error-request-uri = La solicitud que traes venció o ya se usó. Regresa al sitio de donde vienes e intenta de nuevo.
oidc-error-logout = No pudimos entender la solicitud para cerrar tu sesión, o pide regresar a una dirección que el sitio no tiene registrada.
logout-title = ¿Cerrar tu sesión de Llave?
logout-intro = Se cerrará tu sesión en Llave y en los sitios de gobierno donde entraste con ella.
logout-stay = No, seguir con mi sesión

connections-title = Sitios en los que usas Llave
connections-none = Todavía no has entrado a ningún sitio con tu cuenta Llave.
connections-last-sign-in = Última vez que entraste
connections-receives = Recibe
connections-since = desde
connections-withdraw = Retirar permiso
connections-withdrawn = Sin permiso vigente: te lo pedirá de nuevo la próxima vez.
consent-withdrawn = Retiraste el permiso. Ese sitio ya no puede usar tus datos y tendrá que pedírtelo otra vez.

catalog-title = Trámites y servicios
catalog-search-label = Busca un trámite o servicio
catalog-search-button = Buscar
catalog-results-for = Resultados para «{ $query }»
catalog-topic = Tema: { $topic }
catalog-most-requested = Los más solicitados
catalog-nothing-found = No encontramos trámites con esas palabras. Prueba con otras o explora por tema.
catalog-online = En línea
catalog-all = Ver todos los trámites
catalog-by-topic = Por tema
catalog-by-entity = Por dependencia
catalog-open-data = Datos abiertos del catálogo:
catalog-start-at = Iniciar en el sitio de { $entity }
catalog-requirements = Qué necesitas
catalog-no-requirements = No necesitas documentos.
catalog-stage-application = al solicitar
catalog-stage-review = durante la revisión
catalog-stage-delivery = al recibir el resultado
catalog-facts = Datos del trámite
catalog-who = Quién puede solicitarlo
catalog-cost = Costo
catalog-free = Gratuito
catalog-deadline = Plazo de respuesta
catalog-validity = Vigencia
catalog-level = Nivel de Llave necesario
catalog-level-1 = Llave con correo confirmado
catalog-level-2 = Llave Verificada (identidad comprobada)
catalog-level-3 = Llave Verificada y confirmación en el momento del trámite
catalog-variants = Tipos
catalog-steps = Pasos
catalog-offices = Dónde hacerlo en persona
catalog-legal-basis = Fundamento legal
catalog-no-legal-basis = Sin fundamento legal registrado.

error-forbidden-title = Sin permiso
error-forbidden = Tu cuenta no tiene permiso para ver o cambiar esto.
catalog-edit-title = Editar el catálogo
catalog-edit-new = Nuevo trámite
catalog-edit-saved = Guardado: { $slug }
catalog-edit-name = Nombre
catalog-edit-entity = Dependencia
catalog-edit-status = Estado
catalog-edit-slug = Identificador
catalog-edit-slug-hint = Minúsculas, números y guiones; aparece en la dirección de la página.
catalog-edit-description = Descripción en lenguaje claro
catalog-edit-requirements-hint = Uno por renglón: tipo | etapa (application, review o delivery) | descripción
catalog-edit-kinds = Tipos de requisito
catalog-edit-legal-hint = Uno por renglón: ley | artículo | dirección web
catalog-edit-one-per-line = Uno por renglón.
catalog-edit-cost-amount = Monto en pesos
catalog-edit-cost-rule = Regla de costo
catalog-edit-variants-hint = Uno por renglón: clave | nombre
catalog-edit-online-url = Dirección para iniciar en línea
catalog-edit-volume = Solicitudes al año
catalog-edit-tags = Temas
catalog-edit-tags-hint = Separados por comas.
catalog-edit-save = Guardar
catalog-edit-history = Historial de cambios
catalog-edit-line = Este renglón no tiene las partes esperadas: { $line }
catalog-edit-number = Escribe un número.
catalog-edit-slug-taken = Ya hay un trámite con este identificador.
catalog-edit-name-taken = Esta dependencia ya tiene un trámite con este nombre.
catalog-report-title = Reporte de simplificación
catalog-report-total = Horas de la ciudadanía ahorradas al año si se adoptara cada sugerencia: { $hours }.
catalog-report-hours = { $hours } horas al año
catalog-level-how-1 = Crea tu cuenta Llave y confirma tu correo electrónico.
catalog-level-how-2 = Verifica tu identidad: en un centro de servicio con una identificación oficial, o en línea.
catalog-level-how-3 = Con Llave Verificada, confirma que eres tú al hacer el trámite (llave de acceso o nueva verificación).
catalog-edit-result-kind = Documento que emite
catalog-edit-result-kind-hint = Si el resultado es un documento, su tipo (por ejemplo birth_certificate); si no, déjalo vacío.
